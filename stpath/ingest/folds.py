"""Cross-validation folds: patient-level (default) and leave-one-slide-out, seeded; the folds.tsv
table (write + read)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..errors import InputError

SCHEMES = ("patient", "leave_one_slide_out")


def assign_folds(samples: pd.DataFrame, scheme: str, n_folds: int | None, seed: int) -> pd.DataFrame:
    """Long table (scheme, fold, sample, patient, role) with role 'test' or 'train'.

    patient: patients are shuffled with ``seed`` and dealt into ``n_folds`` groups (default: one
    fold per patient); every slide of a patient lands in the same fold. leave_one_slide_out: one
    fold per slide.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown fold scheme {scheme!r}; use one of {SCHEMES}")
    unit = "patient" if scheme == "patient" else "sample"
    units = sorted(samples[unit].astype(str).unique())
    if len(units) < 2:
        raise ValueError(f"{scheme} folds need at least 2 {unit}s, the sample sheet has {len(units)}")
    k = len(units) if not n_folds or scheme != "patient" else min(n_folds, len(units))
    order = np.random.default_rng(seed).permutation(len(units))
    fold_of = {units[j]: i % k for i, j in enumerate(order)}
    rows = []
    for fold in range(k):
        for _, s in samples.iterrows():
            role = "test" if fold_of[str(s[unit])] == fold else "train"
            rows.append((scheme, fold, s["sample"], s["patient"], role))
    return pd.DataFrame(rows, columns=["scheme", "fold", "sample", "patient", "role"])


def feasible_schemes(samples: pd.DataFrame) -> list[str]:
    out = []
    if samples["patient"].nunique() >= 2:
        out.append("patient")
    if samples["sample"].nunique() >= 2:
        out.append("leave_one_slide_out")
    return out


def check_fold_scheme(sheet: pd.DataFrame, scheme: str, sheet_path) -> None:
    """The image models train on some slides and test on others: ``sheet`` (the samples with a
    slide) must allow ``scheme``."""
    feasible = feasible_schemes(sheet)
    if scheme in feasible:
        return
    problem = (
        f"the image models need folds, and fold scheme {scheme!r} is impossible with {sheet['patient'].nunique()} "
        f"patient(s) and {len(sheet)} sample(s) with a slide"
    )
    if feasible:
        fix = f"set folds.scheme to {feasible[0]!r} in the config, or add samples from other patients"
    else:
        fix = (
            "add a second sample with a slide, or turn the image models off (expression_models.models: [] and "
            "cell_type_models.models: [] in the config) to run ingest, tiling and deconvolution of this sample alone"
        )
    raise InputError(sheet_path, problem, fix)


def fold_table(sheet: pd.DataFrame, scheme: str, n_folds: int, seed: int) -> pd.DataFrame:
    """Every feasible scheme's folds, ``selected`` marking the configured one (the folds.tsv table)."""
    tables = [assign_folds(sheet, s, n_folds, seed) for s in feasible_schemes(sheet)]
    folds = pd.concat(tables, ignore_index=True)
    folds["selected"] = folds["scheme"] == scheme
    return folds


def samples_in(folds: pd.DataFrame, fold: int, role: str) -> list[str]:
    """The samples a fold trains on (``role="train"``) or holds out (``"test"``)."""
    return list(folds.loc[(folds["fold"] == int(fold)) & (folds["role"] == role), "sample"])


def write_folds(folds: pd.DataFrame, path) -> None:
    with atomic_path(path) as tmp:
        folds.to_csv(tmp, sep="\t", index=False)


def read_folds(path) -> pd.DataFrame:
    """The selected scheme's rows of a folds.tsv."""
    folds = pd.read_csv(path, sep="\t", dtype={"sample": str, "patient": str})
    return folds[folds["selected"]].drop(columns="selected").reset_index(drop=True)


def training_samples(folds: pd.DataFrame, split: str, labelled: list[str]) -> list[str]:
    """The slides a training run learns from: a fold's training slides (``split`` "fold<k>"), or
    every labelled slide for the final model."""
    return list(labelled) if split == "final" else samples_in(folds, int(split.removeprefix("fold")), "train")


def predicting_runs(folds: pd.DataFrame, fold_ids: list[int], image_only: list[str]) -> list[tuple[str, list[str]]]:
    """Which training run predicts which slides: each fold's model its held-out slides, the final
    model the image-only slides (none trained on them). (split, samples) pairs, folds first."""
    runs = [(f"fold{fold}", samples_in(folds, fold, "test")) for fold in fold_ids]
    return runs + ([("final", list(image_only))] if image_only else [])


def protocol_of(split: str, sample: str = "", folds: pd.DataFrame | None = None) -> str:
    """How a whole-slide map was predicted, for titles: by a bundle, by the final model (an
    image-only slide), or held out by a fold's model, within-patient when other slides of its
    patient are among that fold's training slides, else cross-patient."""
    if split == "final":
        return "image-only slide, final model (trained on every labelled slide)"
    if split == "bundle":
        return "model bundle of another run (not trained on this slide)"
    fold = folds[folds["fold"] == int(split.removeprefix("fold"))]
    patient = fold.loc[fold["sample"] == sample, "patient"].iloc[0]
    within = (fold.loc[fold["role"] == "train", "patient"] == patient).any()
    kind = "within-patient (other slides of its patient are in training)" if within else "cross-patient (its patient is not in training)"
    return f"held out in {split}, {kind}"
