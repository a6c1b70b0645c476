"""Cross-validation folds: patient-level (default) and leave-one-slide-out, seeded."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
