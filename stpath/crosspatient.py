"""The report's cross-patient section: for every test patient and model, the mean PCC of its test
slides, within-patient and cross-patient side by side, for this run and for other runs of the same
slides set beside it (e.g. the same models without a stain option, or with other folds)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .atomic import atomic_path  # noqa: E402

GENE_SETS = ("heg50", "hvg50")  # the per-slide sets of CMRCNet's protocol
PROTOCOLS = ("within-patient", "cross-patient")


def cross_patient_table(summaries: dict[str, pd.DataFrame], patient_of: dict[str, str]) -> pd.DataFrame:
    """Mean per-slide PCC per run, test patient, model, gene set and protocol (``summaries``: run
    label -> expression summary table; ``patient_of``: sample -> patient)."""
    rows = []
    for run, summary in summaries.items():
        pcc = summary[
            (summary.metric == "pearson_mean") & (summary.protocol == "per_slide") & summary.gene_set.isin(GENE_SETS)
        ]
        unknown = sorted(set(pcc.test_sample) - set(patient_of))
        if unknown:
            raise ValueError(
                f"run {run!r} tested slides {unknown[:3]} that are not in this run's sample sheet: compare runs of the same slides"
            )
        pcc = pcc.assign(run=run, test_patient=pcc.test_sample.map(patient_of))
        grouped = pcc.groupby(["run", "test_patient", "model", "gene_set", "patients"], sort=False)["value"]
        rows.append(grouped.agg(mean_pcc="mean", test_slides="count").reset_index())
    return pd.concat(rows, ignore_index=True)


def cross_patient_figure(table: pd.DataFrame, path, title: str) -> None:
    """One row of panels per run, one column per gene set: per test patient, a bar per model
    (solid: cross-patient, hatched: within-patient)."""
    runs, sets = list(dict.fromkeys(table.run)), [g for g in GENE_SETS if g in set(table.gene_set)]
    models, patients = list(dict.fromkeys(table.model)), sorted(set(table.test_patient))
    colours = dict(zip(models, plt.get_cmap("tab10").colors))
    panel_width = max(3.6, 0.6 + 0.25 * len(models) * len(PROTOCOLS) * len(patients))
    fig, axes = plt.subplots(
        len(runs), len(sets), figsize=(panel_width * len(sets), 0.6 + 2.6 * len(runs)), squeeze=False, sharey=True
    )
    width = 0.8 / (len(models) * len(PROTOCOLS))
    for (i, run), (j, gene_set) in ((r, g) for r in enumerate(runs) for g in enumerate(sets)):
        ax = axes[i, j]
        part = table[(table.run == run) & (table.gene_set == gene_set)].set_index(
            ["test_patient", "model", "patients"]
        )["mean_pcc"]
        for m, model in enumerate(models):
            for p, protocol in enumerate(PROTOCOLS):
                values = [part.get((patient, model, protocol), np.nan) for patient in patients]
                offset = (m * len(PROTOCOLS) + p - (len(models) * len(PROTOCOLS) - 1) / 2) * width
                ax.bar(
                    np.arange(len(patients)) + offset,
                    values,
                    width,
                    color=colours[model],
                    hatch="///" if protocol == "within-patient" else None,
                    edgecolor="white" if protocol == "within-patient" else colours[model],
                    label=f"{model}, {protocol}",
                )
        ax.axhline(0, color="black", lw=0.6)
        ax.set_ylabel("Pearson r", fontsize=8)
        ax.set_xticks(range(len(patients)), [f"patient {p}" for p in patients], fontsize=8)
        ax.set_title(f"{run}\n{gene_set.upper()}: mean PCC of the patient's test slides", fontsize=8)
    present = set(zip(table.model, table.patients))  # one legend entry per bar kind drawn
    seen = {
        label: h for h, label in zip(*axes[0, 0].get_legend_handles_labels()) if tuple(label.split(", ")) in present
    }
    fig.legend(list(seen.values()), list(seen), loc="lower center", ncol=min(len(seen), 4), fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.04 + 0.03 * (len(seen) // 4), 1, 0.97))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
