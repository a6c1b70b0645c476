"""Wall time, peak memory and epochs/s of both cell2location steps at a realistic size.

Synthetic data (default 3000 spots x 5000 genes x 20 cell types, 100 reference cells per type):
negative-binomial reference cells and spots whose counts mix the same signatures. Each step runs in
its own process so that its peak memory is its own; data generation is not timed.
Run: python -m tools.bench.deconvolution [--spots 3000 --genes 5000 --types 20]
     [--reference-epochs 100 --mapping-epochs 300] [--steps reference mapping] [--accelerator auto]
     [--out bench.tsv]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd


def synthetic(n_spots: int, n_genes: int, n_types: int, cells_per_type: int, seed: int = 0):
    """(reference AnnData with obs label/batch, spatial AnnData with obs sample, signatures genes x types)."""
    rng = np.random.default_rng(seed)
    genes = [f"G{i:05d}" for i in range(n_genes)]
    types = [f"type_{k:02d}" for k in range(n_types)]
    base = rng.lognormal(0.0, 1.2, size=n_genes)
    sig = base[:, None] * rng.lognormal(0.0, 0.8, size=(n_genes, n_types))
    sig /= sig.sum(axis=0, keepdims=True)
    size = 2000 * rng.lognormal(0, 0.3, size=(n_types * cells_per_type, 1))
    labels = np.repeat(np.arange(n_types), cells_per_type)
    ref_mu = size * sig.T[labels]
    ref = ad.AnnData(
        X=rng.poisson(rng.gamma(8.0, ref_mu / 8.0)).astype(np.int32),
        obs=pd.DataFrame(
            {
                "label": pd.Categorical(np.array(types)[labels]),
                "batch": pd.Categorical(rng.choice(["b1", "b2"], len(labels))),
            }
        ),
        var=pd.DataFrame(index=genes),
    )
    ref.obs_names = [f"cell{i}" for i in range(ref.n_obs)]
    abundance = rng.gamma(0.4, 5.0, size=(n_spots, n_types)) * (rng.uniform(size=(n_spots, n_types)) < 0.3)
    mu = (abundance * 500) @ sig.T
    spatial = ad.AnnData(
        X=rng.poisson(rng.gamma(8.0, (mu + 1e-3) / 8.0)).astype(np.int32), var=pd.DataFrame(index=genes)
    )
    spatial.obs_names = [f"spot{i}" for i in range(n_spots)]
    spatial.obs["sample"] = pd.Categorical(np.where(np.arange(n_spots) < n_spots // 2, "S1", "S2"))
    return ref, spatial, pd.DataFrame(sig * 2000, index=genes, columns=types)


def peak_memory() -> dict:
    import torch

    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if torch.cuda.is_available():
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def run_step(step: str, args) -> dict:
    import torch

    from stpath.deconvolution import mapping
    from stpath.deconvolution.reference import GeneFilter, RegressionSettings, fit_signatures
    from stpath.device import pick_accelerator

    torch.set_num_threads(args.threads)
    ref, spatial, sig = synthetic(args.spots, args.genes, args.types, args.cells_per_type)
    accelerator = pick_accelerator(args.accelerator)
    start = time.perf_counter()
    if step == "reference":
        epochs = args.reference_epochs
        no_filter = GeneFilter(cell_count_cutoff=0, cell_percentage_cutoff2=0.0, nonz_mean_cutoff=0.0)
        _, history = fit_signatures(
            ref, no_filter, RegressionSettings(max_epochs=epochs, num_samples=100), accelerator, 0
        )
        train_s = history.attrs["train_seconds"]
        shape = f"{ref.n_obs} cells x {ref.n_vars} genes x {args.types} types"
    else:
        epochs = args.mapping_epochs
        params = mapping.MappingSettings(max_epochs=epochs, num_samples=100)
        joint, s = mapping.spatial_input([spatial], sig, 1, "synthetic")
        model = mapping.fit(joint, s, params, accelerator, 0)
        train_s = time.perf_counter() - start
        mapping.export(model, joint, params, accelerator)
        shape = f"{joint.n_obs} spots x {joint.n_vars} genes x {args.types} types"
    wall = time.perf_counter() - start
    result = {"step": step, "shape": shape, "device": accelerator, "epochs": epochs, "wall_s": round(wall, 1)}
    result |= {"train_s": round(train_s, 1), "epochs_per_s": round(epochs / train_s, 2)}
    return result | {k: round(v) for k, v in peak_memory().items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spots", type=int, default=3000)
    ap.add_argument("--genes", type=int, default=5000)
    ap.add_argument("--types", type=int, default=20)
    ap.add_argument("--cells-per-type", type=int, default=100)
    ap.add_argument("--reference-epochs", type=int, default=100)
    ap.add_argument("--mapping-epochs", type=int, default=300)
    ap.add_argument("--accelerator", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", nargs="+", choices=["reference", "mapping"], default=["reference", "mapping"])
    ap.add_argument("--step", choices=["reference", "mapping"], help="internal: run one step in this process")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.step:
        print("RESULT " + json.dumps(run_step(args.step, args)))
        return
    rows = []
    passed = [a for a in sys.argv[1:] if a not in ("--steps", "reference", "mapping")]
    for step in args.steps:
        cmd = [sys.executable, "-m", "tools.bench.deconvolution", "--step", step, *passed]
        out = subprocess.run(cmd, capture_output=True, text=True)
        line = [row for row in out.stdout.splitlines() if row.startswith("RESULT ")]
        if out.returncode or not line:
            sys.exit(f"{step} failed:\n{out.stderr[-3000:]}")
        rows.append(json.loads(line[-1][7:]))
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    if "mapping" in args.steps:
        rate = table.set_index("step").loc["mapping", "epochs_per_s"]
        print(f"30000 tutorial epochs of the spatial model at this size: {30000 / rate / 60:.1f} min")
    if args.out:
        table.to_csv(args.out, sep="\t", index=False)


if __name__ == "__main__":
    main()
