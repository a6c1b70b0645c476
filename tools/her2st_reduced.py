"""A reduced CPU run of config/her2st_full.yaml on the HER2ST sections a machine holds, without the
internet: the config's own download entries for those sections and the atlas's are served from a
local mirror on 127.0.0.1, so the run downloads, verifies, converts and then runs every stage.

Reduced: the sections of one patient (C2-C6 in ../shared/data/her2st), so leave-one-section-out
folds; CMRCNet and direct regression, CUCA and the linear probe, with the demo's small from-scratch
encoders and 10 epochs; short cell2location fits (100 + 150 epochs). The
full breast atlas is not on this machine (its real subset serves ``tools.her2st_cuca``), so the served "atlas" is built from the sections themselves:
their spots clustered (k-means on log-normalised PCA) into pseudo cell types, each spot a "cell",
the section as its "patient", in the exact GSE176078 layout. It exercises the conversion,
regression, mapping and CUCA on real counts and gene names; its cell types are not biology.

    python -m tools.her2st_reduced --workdir runs/her2st_reduced [--cores 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import yaml
from sklearn.cluster import KMeans

from stpath.deconvolution.atlas import write_wu2021_archive
from stpath.ingest.download import downloads_of
from stpath.ingest.readers.legacy_st import read_legacy_st_counts, read_legacy_st_positions

from .mirror import mirror_downloads, mirror_path, point_downloads_at, serve

REPO = Path(__file__).resolve().parents[1]
FULL = REPO / "config" / "her2st_full.yaml"
SECTIONS = ["C2", "C3", "C4", "C5", "C6"]
ATLAS = "archives/GSE176078_Wu_etal_2021_BRCA_scRNASeq.tar.gz"
N_TYPES = 6

REDUCED = {
    "folds": {"scheme": "leave_one_slide_out", "seed": 0},  # one patient on this machine
    "expression_models": {
        "encoder": {"embed_dim": 96, "depth": 2, "num_heads": 4},
        "cmrcnet": {"proj_dim": 64, "gene_tokens": 4, "fusion_heads": 4},
        "models": ["cmrcnet", "direct"],
        "train": {"epochs": 10, "batch_size": 32},
        "retrieval_k": 20,
        "whole_slide": ["cmrcnet"],
    },
    "cell_type_models": {
        "models": ["cuca", "linear_probe"],
        "preset": "",
        "finetune": "full",
        "encoder": {"patch_size": 32, "embed_dim": 96, "depth": 2, "num_heads": 4},
        "cuca": {"hidden_dim": 128, "proj_dim": 128, "molecule_dims": [256, 256]},
        "train": {"epochs": 10, "batch_size": 32},
    },
    "deconvolution": {
        "regression": {"max_epochs": 100, "num_samples": 100},
        "mapping": {
            "max_epochs": 150,
            "lr": 0.01,
            "num_samples": 100,
            "N_cells_per_location": 10,
            "detection_alpha": 20,
        },
    },
    "training": {"final_models": False},
}
# replaced whole, not merged: patient folds with validation patients need more than one patient,
# and the Virchow2 preset and its weight file are not on this machine
REPLACED = ("folds", "cell_type_models")


def of_sections(relpath: str) -> bool:
    """A download entry of one of the SECTIONS (counts/C2.tsv.gz, spots/C2_selection.tsv, ...)."""
    return any(f"/{s}." in relpath or f"/{s}_" in relpath for s in SECTIONS)


def pseudo_atlas(her2st: Path, path: Path, seed: int = 0) -> pd.Series:
    """The sections' spots as an atlas in the GSE176078 layout; returns the cells per pseudo type."""
    parts = {}
    for s in SECTIONS:
        counts = her2st / "counts" / f"{s}.tsv.gz"
        parts[s] = read_legacy_st_counts(
            counts, read_legacy_st_positions(counts, her2st / "spots" / f"{s}_selection.tsv")
        )
    adata = ad.concat(parts, join="inner", label="section", index_unique="_")
    adata.X = adata.X.astype(np.float32)
    sc.pp.filter_genes(adata, min_cells=3)
    counts = adata.X.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.pca(adata, n_comps=20, random_state=seed)
    labels = KMeans(N_TYPES, n_init=10, random_state=seed).fit_predict(adata.obsm["X_pca"])
    names = np.array([f"pseudo type {k}" for k in range(N_TYPES)])[labels]
    metadata = pd.DataFrame(
        {
            "orig.ident": adata.obs["section"].astype(str).to_numpy(),
            "celltype_major": names,
            "celltype_minor": names,
            "celltype_subset": names,
        },
        index=adata.obs_names,
    )
    write_wu2021_archive(path, counts.astype(np.int64), list(adata.var_names), metadata)
    return metadata["celltype_minor"].value_counts()


def reduced_config(base: str, workdir: Path) -> Path:
    config = yaml.safe_load(FULL.read_text())
    entries = {rel: e for rel, e in config["downloads"].items() if rel == ATLAS or of_sections(rel)}
    config["downloads"] = point_downloads_at(entries, base)
    sheet = pd.read_csv(REPO / config["samples"], sep="\t", dtype=str, keep_default_na=False)
    sheet[sheet["sample"].isin(SECTIONS)].to_csv(workdir / "samples.tsv", sep="\t", index=False)
    config.update(dataset="her2st_reduced", samples=str(workdir / "samples.tsv"), data_root=str(workdir / "data"))
    for key, value in REDUCED.items():
        config[key] = value if key in REPLACED else {**config.get(key, {}), **value}
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument(
        "--her2st",
        type=Path,
        default=REPO.parent / "shared" / "data" / "her2st",
        help="local copies of the sections (counts/, spots/, images/)",
    )
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    www = workdir / "mirror"
    workdir.mkdir(parents=True, exist_ok=True)
    full = yaml.safe_load(FULL.read_text())
    if not www.exists():
        entries = {rel: d for rel, d in downloads_of(full).items() if of_sections(rel)}
        mirror_downloads(www, entries, args.her2st)
        types = pseudo_atlas(args.her2st, mirror_path(www, full["downloads"][ATLAS]["url"]))
        print(f"pseudo atlas: {types.sum()} spots as cells, {len(types)} types:\n{types.to_string()}", flush=True)
    with serve(www) as base:
        configfile = reduced_config(base, workdir)
        command = [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(workdir),
            "--cores",
            str(args.cores),
            "--configfile",
            str(configfile),
            "--rerun-incomplete",
        ]
        done = subprocess.run(command, cwd=REPO)
    if done.returncode:
        return done.returncode
    summary = pd.read_csv(workdir / "results" / "her2st_reduced" / "metrics" / "summary.tsv", sep="\t")
    means = (
        summary[summary["metric"].isin(["pearson_mean"])]
        .groupby(["model", "target", "gene_set", "protocol", "patients"])["value"]
        .mean()
    )
    print(means.round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
