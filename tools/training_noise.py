"""What moves a cell-type model's numbers: each fold of a finished run's cell-type models trained
again, under chosen perturbations, with the held-out score of every epoch recorded.

A perturbation is one of
  * ``seed:<s>``: ``train.seed`` set to s (initialisation, batch order, in-slide validation split);
  * ``ulp:<k>``: the configured seed, then a seeded half of the initial weights moved by one unit in
    the last place (k = 0: none moved). It is the difference two CPUs' kernels make to a sum, made
    on purpose and the same on any machine;
and a run of this tool under other kernel switches (``ATEN_CPU_CAPABILITY``, ``MKL_ENABLE_INSTRUCTIONS``,
``ONEDNN_MAX_CPU_ISA``) is a third. ``--set key=value`` (dotted keys of the ``cell_type_models``
section, YAML values) trains a variant of the configured model, to see which part amplifies.

Each epoch's row: training loss, validation r (what the checkpoint is selected on), and the mean over
cell types of each held-out slide's Pearson r against the labels and, where the run has them, the
true abundances, averaged over the fold's held-out slides. Written to ``--out`` (TSV); the summary
printed per fold and perturbation: the epoch selected, the held-out r there and at the last epoch.

    python -m tools.training_noise --directory <run dir> --configfile config/config.yaml \\
        --model cuca --perturb ulp:0 ulp:1 ulp:2 seed:1 --out noise.tsv [--set train.lr=0.0002]
    python -m tools.training_noise --tables noise.tsv other.tsv   # the spread of each variant
"""

from __future__ import annotations

import argparse
import copy
import logging
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from stpath.celltypes.labels import attach_labels
from stpath.celltypes.metrics import per_type
from stpath.celltypes.models import build
from stpath.celltypes.settings import CellTypeSettings
from stpath.deconvolution.truth import read_truth, spot_key
from stpath.genes.files import read_gene_set
from stpath.ingest.folds import read_folds, samples_in, training_samples, validation_samples
from stpath.training.data import load_spots
from stpath.training.infer import embed_images
from stpath.training.loop import seed_everything, train

REPO = Path(__file__).resolve().parents[1]


def resolved_config(configfile: Path, overrides: list[str]) -> dict:
    """The config as the workflow sees it: the file, the schema's defaults, then ``overrides``
    (dotted keys under ``cell_type_models``)."""
    from snakemake.utils import validate

    config = yaml.safe_load(configfile.read_text())
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    for item in overrides:
        key, value = item.split("=", 1)
        *path, last = key.split(".")
        node = config["cell_type_models"]
        for part in path:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(value)
    return config


def nudge(model: torch.nn.Module, k: int) -> None:
    """Move a seeded half of every parameter's entries one unit in the last place (k = 0: none)."""
    if k == 0:
        return
    gen = torch.Generator().manual_seed(k)
    with torch.no_grad():
        for p in model.parameters():
            mask = torch.rand(p.shape, generator=gen) < 0.5
            p.copy_(torch.where(mask, torch.nextafter(p, torch.full_like(p, float("inf"))), p))


def held_out_scorer(model_name, test, truth: pd.DataFrame | None):
    """``after_epoch``: the mean over cell types of each held-out slide's Pearson r, averaged over
    the slides, against the labels and the truth."""

    def score(model) -> dict:
        predicted = embed_images(model.predict, test.images, torch.device("cpu")).numpy()
        out = {}
        references = {"labels": test.labels.numpy()}
        if truth is not None:
            keys = [spot_key(s, b) for s, b in zip(test.sample, test.barcode)]
            references["truth"] = truth.loc[keys, test.label_names].to_numpy()
        for name, reference in references.items():
            per_slide = [
                np.nanmean(per_type(predicted[test.sample == s], reference[test.sample == s])["pearson"])
                for s in dict.fromkeys(test.sample)
            ]
            out[f"test_pearson_{name}"] = float(np.mean(per_slide))
        return out

    return score


def run_fold(config: dict, directory: Path, folds: pd.DataFrame, fold: int, model_name: str, perturb: str):
    section = copy.deepcopy(config["cell_type_models"])
    kind, value = perturb.split(":")
    if kind == "seed":
        section["train"]["seed"] = int(value)
    settings = CellTypeSettings.from_config(section)
    out = directory / "results" / config["dataset"]
    genes = read_gene_set(out / "genes" / "genes.tsv", settings.gene_set)
    labelled = list(folds["sample"].unique())
    split = f"fold{fold}"

    def spots(samples, scored=False):
        data = load_spots(
            samples,
            [out / "patches" / f"{s}.h5" for s in samples],
            [out / "genes" / f"{s}.h5ad" for s in samples],
            genes,
            target_sum=settings.gene_target_sum,
            scored=scored,
        )
        return attach_labels(data, {s: out / "deconvolution" / f"{s}.h5ad" for s in samples}, settings.labels)

    train_samples = training_samples(folds, split, labelled)
    val = tuple(validation_samples(folds, split, section["train"]["selection"]))
    test_samples = samples_in(folds, fold, "test")
    data, test = spots(train_samples), spots(test_samples, scored=True)
    truth_pattern = config["deconvolution"]["truth"]
    truth = None
    if truth_pattern:
        root = Path(config["data_root"])
        root = root if root.is_absolute() else directory / root
        truth = read_truth([root / truth_pattern.format(sample=s) for s in test_samples], test_samples)
    seed_everything(settings.train.seed)
    model = build(model_name, len(data.label_names), len(data.genes), settings)
    nudge(model, int(value) if kind == "ulp" else 0)
    with tempfile.TemporaryDirectory() as work:
        history = train(
            model,
            data,
            replace(settings.train),
            torch.device("cpu"),
            Path(work),
            checkpoint_minutes=1e9,
            val_samples=val,
            after_epoch=held_out_scorer(model_name, test, truth),
        )
    return history.assign(model=model_name, fold=fold, perturb=perturb)


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per fold and perturbation: the epoch selected on validation r, the held-out r there and at
    the last epoch."""
    rows = []
    tests = [c for c in table if c.startswith("test_pearson_")]
    for (variant, model, fold, perturb), h in table.groupby(["variant", "model", "fold", "perturb"], sort=False):
        h = h.reset_index(drop=True)
        best = int(h["val_pearson"].idxmax())
        row = {"variant": variant, "model": model, "fold": fold, "perturb": perturb, "selected": best + 1}
        for c in tests:
            row[f"selected_{c[5:]}"] = h.loc[best, c]
            row[f"last_{c[5:]}"] = h[c].iloc[-1]
        rows.append(row)
    return pd.DataFrame(rows)


def spread(table: pd.DataFrame, reference: str = "truth") -> pd.DataFrame:
    """Per variant, over its perturbations: the fold-averaged held-out r against ``reference`` at
    the selected epoch and at the last (mean, s.d., range), and how much that score moves from
    one epoch to the next over the second half of training (mean |change|)."""
    column = f"test_pearson_{reference}"
    runs = summarise(table).groupby(["variant", "model", "perturb"], sort=False)
    per_run = runs[[f"selected_pearson_{reference}", f"last_pearson_{reference}"]].mean()
    per_run.columns = ["selected", "last"]
    late = table[table["epoch"] > table["epoch"].max() / 2]
    jitter = (
        late.groupby(["variant", "model", "perturb", "fold"], sort=False)[column]
        .apply(lambda v: v.diff().abs().mean())
        .groupby(["variant", "model"], sort=False)
        .mean()
        .rename("epoch_to_epoch")
    )
    out = per_run.groupby(["variant", "model"], sort=False).agg(["mean", "std", "min", "max", "size"])
    out.columns = [f"{a}_{b}" for a, b in out.columns]
    return out.join(jitter).reset_index()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--directory", type=Path, default=Path("."), help="the finished run's working directory")
    ap.add_argument("--configfile", type=Path, default=REPO / "config" / "config.yaml")
    ap.add_argument("--model", default="cuca")
    ap.add_argument("--folds", type=int, nargs="*", help="default: every fold")
    ap.add_argument("--perturb", nargs="+", default=["ulp:0", "ulp:1"])
    ap.add_argument("--set", nargs="*", default=[], dest="overrides", help="cell_type_models keys: train.lr=2e-4")
    ap.add_argument("--variant", default="", help="a name for this variant in the table")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, help="the per-epoch table written")
    ap.add_argument("--tables", type=Path, nargs="*", help="train nothing: the spread of these tables' variants")
    args = ap.parse_args(argv)
    if args.tables:
        table = pd.concat([pd.read_csv(t, sep="\t") for t in args.tables], ignore_index=True)
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            for reference in ("truth", "labels"):
                if f"test_pearson_{reference}" in table:
                    print(f"held-out r against the {reference}:")
                    print(spread(table, reference).round(3).to_string(index=False))
        return
    if args.out is None:
        ap.error("--out is required when training")
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    config = resolved_config(args.configfile, args.overrides)
    folds = read_folds(args.directory / "results" / config["dataset"] / "splits" / "folds.tsv")
    frames = []
    for fold in args.folds if args.folds is not None else sorted(folds["fold"].unique()):
        for perturb in args.perturb:
            frames.append(run_fold(config, args.directory, folds, fold, args.model, perturb))
    table = pd.concat(frames, ignore_index=True).assign(variant=args.variant or " ".join(args.overrides) or "as set")
    table.to_csv(args.out, sep="\t", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summarise(table).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
