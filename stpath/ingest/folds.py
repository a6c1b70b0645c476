"""Cross-validation folds: patient-level (default) and leave-one-slide-out, seeded, or a user's own
table; optional validation patients per fold; the folds.tsv table (write + read)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..errors import InputError
from .sheet import read_text

SCHEMES = ("patient", "leave_one_slide_out")
TABLE = "table"  # the user's own split file
ROLES = ("train", "val", "test")


@dataclass(frozen=True)
class FoldSettings:
    """The folds config section."""

    scheme: str = "patient"  # patient, leave_one_slide_out or table
    n_folds: int = 0  # patient folds; 0 = one per patient
    seed: int = 0
    n_val_patients: int = 0  # validation patients per fold (patient folds)
    table: str = ""  # split file (fold, sample, role) for scheme table

    @classmethod
    def from_config(cls, section: dict) -> "FoldSettings":
        return cls(**section)


def plan_folds(sheet: pd.DataFrame, settings: FoldSettings, data_root: str | Path | None = None) -> pd.DataFrame:
    """The folds in use: the configured scheme's table (scheme, fold, sample, patient, role)."""
    if settings.scheme == TABLE:
        return read_split_table(settings.table, sheet, data_root)
    n_val = settings.n_val_patients if settings.scheme == "patient" else 0
    return assign_folds(sheet, settings.scheme, settings.n_folds, settings.seed, n_val)


def read_split_table(path: str | Path, sheet: pd.DataFrame, data_root: str | Path | None = None) -> pd.DataFrame:
    """A user's split file: tab-separated ``fold``, ``sample``, ``role`` (train, val or test), one
    row per labelled sample and fold; every fold holds out at least one slide and trains on one.
    ``path`` is relative to the working directory (like the sheet's own path, unlike the paths in
    the sheet, which are under ``data_root``)."""
    path = Path(path)
    if not path.is_file():
        under_root = Path(data_root) / path if data_root is not None and not path.is_absolute() else None
        if under_root is not None and under_root.is_file():
            fix = (
                f"folds.table is relative to the working directory ({Path.cwd()}), not to data_root: "
                f"set folds.table: {under_root}"
            )
        else:
            fix = (
                f"set folds.table to a TSV with columns fold, sample, role (train, val or test); a relative "
                f"path is read from the working directory ({Path.cwd()})"
            )
        raise InputError(path, "split table not found", fix)
    table = pd.read_csv(io.StringIO(read_text(path)), sep="\t", dtype={"sample": str, "role": str}, comment="#")
    missing = [c for c in ("fold", "sample", "role") if c not in table.columns]
    if missing:
        raise InputError(
            path,
            f"missing column(s) {missing}; the header has {list(table.columns)}",
            "write a tab-separated header: fold, sample, role",
        )
    folds = pd.to_numeric(table["fold"], errors="coerce")
    if folds.isna().any() or (folds != folds.round()).any() or (folds < 0).any():
        bad = table.loc[folds.isna() | (folds != folds.round()) | (folds < 0), "fold"].astype(str).unique()
        raise InputError(
            path,
            f"column fold holds {list(bad[:3])}; folds are numbered 0, 1, 2, ...",
            "write each fold as its number alone (fold0 -> 0)",
        )
    table["fold"] = folds.astype(int)
    bad_role = sorted(set(table["role"].astype(str)) - set(ROLES))
    if bad_role:
        cased = [r for r in bad_role if r.strip().lower() in ROLES]
        fix = f"use only {list(ROLES)}" + (
            f", in lower case without spaces ({', '.join(repr(r) + ' -> ' + repr(r.strip().lower()) for r in cased[:3])})"
            if cased
            else ""
        )
        raise InputError(path, f"unknown role(s) {bad_role}", fix)
    samples = list(sheet["sample"])
    unknown = sorted(set(table["sample"]) - set(samples))
    if unknown:
        raise InputError(
            path,
            f"sample(s) {unknown[:3]} are not labelled slides of the sample sheet",
            "list only samples of the sheet that have a slide and spatial data",
        )
    for fold, rows in table.groupby("fold"):
        absent = [s for s in samples if s not in set(rows["sample"])]
        twice = sorted(rows["sample"][rows["sample"].duplicated()])
        if absent or twice:
            raise InputError(
                path,
                f"fold {fold}: "
                + (f"sample(s) {absent[:3]} missing" if absent else f"sample(s) {twice[:3]} listed twice"),
                "give every labelled sample exactly one role in every fold",
            )
        if not {"train", "test"} <= set(rows["role"]):
            raise InputError(
                path,
                f"fold {fold} has no {'test' if 'test' not in set(rows['role']) else 'train'} slide",
                "give every fold at least one train and one test slide",
            )
    patient = sheet.set_index("sample")["patient"]
    return pd.DataFrame(
        {
            "scheme": TABLE,
            "fold": table["fold"].astype(int),
            "sample": table["sample"],
            "patient": table["sample"].map(patient).astype(str),
            "role": table["role"],
        }
    )


def assign_folds(
    samples: pd.DataFrame, scheme: str, n_folds: int | None, seed: int, n_val_patients: int = 0
) -> pd.DataFrame:
    """Long table (scheme, fold, sample, patient, role) with role 'test', 'train' or 'val'.

    patient: patients are shuffled with ``seed`` and dealt into ``n_folds`` groups (default: one
    fold per patient); every slide of a patient lands in the same fold. leave_one_slide_out: one
    fold per slide. ``n_val_patients`` (patient folds only): in each fold, that many of the training
    patients (drawn with ``seed`` and the fold) become validation patients, on whose spots the
    models are selected.
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
        val = validation_patients(
            samples, {u for u, f in fold_of.items() if f == fold}, unit, n_val_patients, seed, fold
        )
        for _, s in samples.iterrows():
            role = "test" if fold_of[str(s[unit])] == fold else "val" if str(s["patient"]) in val else "train"
            rows.append((scheme, fold, s["sample"], s["patient"], role))
    return pd.DataFrame(rows, columns=["scheme", "fold", "sample", "patient", "role"])


def validation_patients(
    samples: pd.DataFrame, test_units: set[str], unit: str, n: int, seed: int, fold: int
) -> set[str]:
    """``n`` of the fold's training patients, drawn with ``seed`` and ``fold``."""
    if not n:
        return set()
    test = samples[samples[unit].astype(str).isin(test_units)]
    candidates = sorted(set(samples["patient"].astype(str)) - set(test["patient"].astype(str)))
    if n >= len(candidates):
        raise ValueError(
            f"fold {fold}: {n} validation patient(s) would leave no training patient (the fold trains on {len(candidates)})"
        )
    order = np.random.default_rng([seed, fold]).permutation(len(candidates))
    return {candidates[i] for i in order[:n]}


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


def fold_table(sheet: pd.DataFrame, settings: FoldSettings) -> pd.DataFrame:
    """The folds in use, ``selected``, and for comparison every other feasible scheme's (the
    folds.tsv table)."""
    used = plan_folds(sheet, settings)
    others = [
        assign_folds(sheet, s, settings.n_folds, settings.seed) for s in feasible_schemes(sheet) if s != settings.scheme
    ]
    folds = pd.concat([used.assign(selected=True), *[t.assign(selected=False) for t in others]], ignore_index=True)
    return folds


def samples_in(folds: pd.DataFrame, fold: int, role: str) -> list[str]:
    """The samples a fold trains on (``role="train"``), selects on (``"val"``) or holds out (``"test"``)."""
    return list(folds.loc[(folds["fold"] == int(fold)) & (folds["role"] == role), "sample"])


def write_folds(folds: pd.DataFrame, path) -> None:
    with atomic_path(path) as tmp:
        folds.to_csv(tmp, sep="\t", index=False)


def read_folds(path) -> pd.DataFrame:
    """The selected scheme's rows of a folds.tsv."""
    folds = pd.read_csv(path, sep="\t", dtype={"sample": str, "patient": str})
    return folds[folds["selected"]].drop(columns="selected").reset_index(drop=True)


def training_samples(folds: pd.DataFrame, split: str, labelled: list[str]) -> list[str]:
    """The slides a training run reads: a fold's training and validation slides (``split``
    "fold<k>"), or every labelled slide for the final model. Retrieval keys come from all of them."""
    if split == "final":
        return list(labelled)
    fold = int(split.removeprefix("fold"))
    return samples_in(folds, fold, "train") + samples_in(folds, fold, "val")


VALIDATION_PATIENTS, IN_SLIDE = "validation_patients", "in_slide"  # a branch's ``train.selection``


def validation_samples(folds: pd.DataFrame, split: str, selection: str = VALIDATION_PATIENTS) -> list[str]:
    """The slides a training run selects its model on: the fold's validation patients' slides
    (``selection: validation_patients``, as the released CUCA), or none, so that the run trains on
    every training slide, validation patients' included, and selects on a seeded in-slide split
    (``in_slide``, as the released CMRCNet; also every final run and folds without validation
    patients)."""
    if split == "final" or selection == IN_SLIDE:
        return []
    return samples_in(folds, int(split.removeprefix("fold")), "val")


def checkpoints_by_split(fold_ids: list[int], fold_checkpoints: list, final) -> dict:
    """Each training run's checkpoint by its split name ("fold<k>", "final")."""
    return {f"fold{f}": c for f, c in zip(fold_ids, fold_checkpoints)} | {"final": final}


def predicting_runs(folds: pd.DataFrame, fold_ids: list[int], image_only: list[str]) -> list[tuple[str, list[str]]]:
    """Which training run predicts which slides: each fold's model its held-out slides, the final
    model the image-only slides (none trained on them). (split, samples) pairs, folds first."""
    runs = [(f"fold{fold}", samples_in(folds, fold, "test")) for fold in fold_ids]
    return runs + ([("final", list(image_only))] if image_only else [])


WITHIN_PATIENT, CROSS_PATIENT = "within-patient", "cross-patient"


def patient_split(folds: pd.DataFrame, fold: int, samples) -> str:
    """ "within-patient" when a patient of ``samples`` (held out in ``fold``) also has slides the
    fold's models learnt from or were selected on (train or val), else "cross-patient"."""
    rows = folds[folds["fold"] == int(fold)]
    patients = set(rows.loc[rows["sample"].isin(list(samples)), "patient"])
    seen = set(rows.loc[rows["role"].isin(["train", "val"]), "patient"])
    return WITHIN_PATIENT if patients & seen else CROSS_PATIENT


def protocol_of(split: str, sample: str = "", folds: pd.DataFrame | None = None) -> str:
    """How a whole-slide map was predicted, for titles: by a bundle, by the final model (an
    image-only slide), or held out by a fold's model, within- or cross-patient."""
    if split == "final":
        return "image-only slide, final model (trained on every labelled slide)"
    if split == "bundle":
        return "model bundle of another run (not trained on this slide)"
    if patient_split(folds, int(split.removeprefix("fold")), [sample]) == WITHIN_PATIENT:
        return f"held out in {split}, within-patient (other slides of its patient are in training)"
    return f"held out in {split}, cross-patient (its patient is not in training)"
