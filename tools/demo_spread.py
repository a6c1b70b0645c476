"""The demo's documented numbers and how much they move: the two demo tables of docs/methods.md
(expression models, cell-type models) read as {(model, target, gene set, metric): (value, s.d.)},
computed from runs' ``metrics/summary.tsv``, and checked against a run.

Each documented cell is ``mean ± s.d.`` over the measured runs (every training seed of every run
given: e.g. three seeds under two CPU kernel settings). A run's number agrees with the docs when it
is within ``BAND`` (6) standard deviations of the mean (at least ``FLOOR``, the rounding of the docs):
one seed on another machine is another draw from the same spread.

    python -m tools.demo_spread RUN_DIR [RUN_DIR ...]   # prints both tables in the docs' layout
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from stpath.metrics import SEED, headline, read_table

REPO = Path(__file__).resolve().parents[1]
# standard deviations a run's number may sit from the documented mean: a 99% prediction interval for
# one more run from the four to six measured (Student's t: 5.84 * sqrt(1 + 1/4) = 6.5 for four runs,
# 4.03 * sqrt(1 + 1/6) = 4.4 for six)
BAND = 6.0
FLOOR = 0.005  # the docs' rounding: the least band, for numbers that did not move

DOC_MODELS = {
    "CMRCNet": "cmrcnet",
    "BLEEP": "bleep",
    "direct regression": "direct",
    "hest_probe": "hest_probe",
    "frozen_retrieval": "frozen_retrieval",
    "CUCA": "cuca",
    "image-only ablation": "cuca_image_only",
    "linear probe": "linear_probe",
    "ridge probe": "ridge_probe",
}
DOC_TABLES = {
    "| model | HEG-50 | HVG-50 | markers | HEST HVG-50 (pooled) |": [
        ("expression", "heg50", "pearson_mean"),
        ("expression", "hvg50", "pearson_mean"),
        ("expression", "markers", "pearson_mean"),
        ("expression", "hest", "pearson_mean"),
    ],
    "| model | Pearson r (truth) | Pearson r (cell2location labels) | Spearman r (truth) | JS distance (truth) | "
    "co-localisation r (squidpy / Moran's R) |": [
        ("truth", "cell_types", "pearson_mean"),
        ("cell2location_q05", "cell_types", "pearson_mean"),
        ("truth", "cell_types", "spearman_mean"),
        ("truth", "cell_types", "jsd_mean"),
        ("cell2location_q05", "cell_types", ("colocalisation_r", "colocalisation_moran_r")),
    ],
}
CELL = re.compile(
    r"^(?P<value>-?\d+(?:\.\d+)?)\s*±\s*(?P<sd>\d+(?:\.\d+)?)(?P<sometimes>\s*\(– in \d+ of \d+ runs\))?$"
)


def doc_values(summary: pd.DataFrame) -> dict:
    """{(model, target, gene set, metric): value} as the docs' demo tables report them: the
    headline (per slide, over each fold's slides, then folds; over the seeds the table holds) and
    the HEST protocol's pooled value (mean over folds)."""
    values = {
        tuple(k): v for k, v in headline(summary).set_index(["model", "target", "gene_set", "metric"])["value"].items()
    }
    hest = summary[summary["protocol"] == "hest"]
    for (model, metric), v in hest.groupby(["model", "metric"])["value"].mean().items():
        values[(model, "expression", "hest", metric)] = v
    return values


def per_run_values(summaries: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (run, training), one column per documented number: a branch's k-th seed is
    the run's k-th training (the branches count their seeds from their own ``train.seed``)."""
    rows = {}
    for run, summary in summaries.items():
        if SEED not in summary:
            rows[(run, 0)] = doc_values(summary)
            continue
        branch = np.where(summary["gene_set"] == "cell_types", "cell_types", "expression")
        k = summary.groupby(branch)[SEED].rank(method="dense").astype(int) - 1
        for i in sorted(k.unique()):
            rows[(run, i)] = doc_values(summary[k == i])
    return pd.DataFrame.from_dict(rows, orient="index")


def parse_cell(cell: str) -> tuple[float, float, bool] | None:
    """(mean, s.d., whether a run may lack it) of a documented ``mean ± s.d.``, with ``(– in k of n
    runs)`` when some measured runs could not compute it (a constant prediction); None for "–" (not
    computed in any run)."""
    if cell == "–":
        return None
    found = CELL.match(cell.strip())
    if not found:
        raise ValueError(f"a demo table cell is {cell!r}: write it as 'mean ± s.d.' (or '–')")
    return float(found["value"]), float(found["sd"]), bool(found["sometimes"])


def documented(doc_table) -> dict:
    """{(model, target, gene set, metric): (mean, s.d.) or None} of both demo tables, read with
    ``doc_table(doc, header)`` (rows of cells under a header line)."""
    out = {}
    for header, columns in DOC_TABLES.items():
        rows = doc_table("methods.md", header)
        if not rows:
            raise ValueError(f"docs/methods.md has no table under {header!r}")
        for cells in rows:
            model = next(m for name, m in DOC_MODELS.items() if cells[0].startswith(name))
            for cell, (target, gene_set, metric) in zip(cells[1:], columns):
                metrics = metric if isinstance(metric, tuple) else (metric,)
                parts = cell.split(" / ")
                if len(parts) != len(metrics):
                    raise ValueError(f"{model}: cell {cell!r} has {len(parts)} numbers, the column {len(metrics)}")
                for part, name in zip(parts, metrics):
                    out[(model, target, gene_set, name)] = parse_cell(part)
    return out


def band(sd: float) -> float:
    return max(BAND * sd, FLOOR)


def disagreements(docs: dict, values: dict) -> list[str]:
    """What of a run (``values``, as ``doc_values`` gives them) lies outside the docs' spread: one
    line per number, naming it, the run's value, the documented mean ± s.d. and the band."""
    out = []
    for key, doc in docs.items():
        value = values.get(key, math.nan)
        if doc is None:
            if not np.isnan(value):
                out.append(f"{key}: documented as not computed ('–'), the run has {value:.3f}")
            continue
        mean, sd, may_lack = doc
        if np.isnan(value) and may_lack:
            continue
        if not abs(value - mean) <= band(sd):  # NaN fails too
            out.append(f"{key}: {value:.3f}, documented {mean} ± {sd} (band ± {band(sd):.3f})")
    return out


def markdown_tables(table: pd.DataFrame) -> str:
    """Both tables in the docs' layout, each cell ``mean ± s.d.`` over the rows of ``table``."""
    mean, sd = table.mean(), table.std(ddof=1).fillna(0.0)
    # a run lacks a number when it scored the model (any other number of it) but not that one
    scored = {m: table[[k for k in table.columns if k[0] == m]].notna().any(axis=1) for m in {k[0] for k in table}}
    missing = {k: int((table[k].isna() & scored[k[0]]).sum()) for k in table.columns}
    runs = {k: int(scored[k[0]].sum()) for k in table.columns}
    names = {m: name for name, m in DOC_MODELS.items()}
    lines = []
    for header, columns in DOC_TABLES.items():
        lines += [header, "|" + "---|" * (header.count("|") - 1)]
        models = [m for m in names if any(k[0] == m and k[1:3] == columns[0][:2] for k in mean.index)]
        for model in models:
            cells = []
            for target, gene_set, metric in columns:
                parts = []
                for name in metric if isinstance(metric, tuple) else (metric,):
                    key = (model, target, gene_set, name)
                    ok = key in mean.index and not np.isnan(mean[key])
                    digits = 2 if name.startswith("colocalisation") else 3
                    cell = f"{mean[key]:.{digits}f} ± {sd[key]:.{digits}f}" if ok else "–"
                    if ok and missing[key]:
                        cell += f" (– in {missing[key]} of {runs[key]} runs)"
                    parts.append(cell)
                cells.append(" / ".join(parts))
            lines.append(f"| {names[model]} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, nargs="+", help="working directories of finished demo runs")
    ap.add_argument("--dataset", default="demo")
    args = ap.parse_args(argv)
    summaries = {str(r): read_table(r / "results" / args.dataset / "metrics" / "summary.tsv") for r in args.runs}
    table = per_run_values(summaries)
    print(markdown_tables(table))
    keys = [k for k in table.columns if k[0] == "cuca"]
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table[keys].round(3).to_string())


if __name__ == "__main__":
    main()
