"""Figures of the cell-type models (registered in the report): predicted vs label maps over the
H&E, per-cell-type Pearson bars per model and co-localisation heatmaps (whole-slide maps: ``plots.tile_maps``)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..metrics import patients_phrase, seeds_phrase  # noqa: E402
from ..plots import SpotView, spot_grid  # noqa: E402


def major_types(abundance: pd.DataFrame, n: int) -> list[str]:
    return list(abundance.mean().sort_values(ascending=False).index[:n])


def prediction_maps(path, title: str, panels: dict[str, pd.DataFrame], types: list[str], view: SpotView) -> None:
    """Rows: cell types; columns: the label maps then each model's prediction (``plots.spot_grid``)."""
    spot_grid(path, title, panels, types, view)


def pearson_bars(per_type: pd.DataFrame, path, subtitle: str = "") -> None:
    """Per-cell-type Pearson r (pooled over each fold's test spots, mean over folds) per model; one
    panel per reference (labels; the truth where known); the mean over types as its own group."""
    table = per_type[per_type["protocol"] == "pooled"]
    targets = list(dict.fromkeys(table["target"]))
    fig, axes = plt.subplots(
        len(targets),
        1,
        figsize=(max(6, 0.9 * table["cell_type"].nunique() + 2), 3.6 * len(targets)),
        dpi=110,
        squeeze=False,
    )
    for ax, target in zip(axes[:, 0], targets):
        wide = table[table["target"] == target].groupby(["cell_type", "model"])["pearson"].mean().unstack("model")
        wide.loc["mean"] = wide.mean()
        wide.plot.bar(ax=ax, width=0.8)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_ylabel("Pearson r")
        ax.set_xlabel("")
        ax.set_title(
            f"predicted vs {target}: per cell type, all test spots of a fold (mean over folds; {seeds_phrase(table)}), "
            f"{patients_phrase(table)}",
            fontsize=9,
        )
        plt.setp(ax.get_xticklabels(), rotation=40, ha="right")
        ax.legend(fontsize=8)
    if subtitle:
        fig.suptitle(subtitle, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


SUMMARY_METRICS = (
    ("pearson_mean", "Pearson r"),
    ("spearman_mean", "Spearman r"),
    ("jsd_mean", "JS distance (lower is better)"),
)


def summary_bars(summary: pd.DataFrame, path) -> dict:
    """The branch's summary: mean Pearson r, Spearman r and JS distance over the cell types, per
    model and reference (this run's labels; the truth where known), each slide's value averaged
    over each fold's slides, then over folds, as the releases report them (``metrics.headline``).
    Error bars: s.d. over the folds' means. Returns the drawn means ({metric: target x model})."""
    metrics = [m for m, _ in SUMMARY_METRICS]
    rows = summary[(summary["protocol"] == "per_slide") & summary["metric"].isin(metrics)]
    per_fold = rows.groupby(["metric", "target", "model", "fold"])["value"].mean()
    fig, axes = plt.subplots(1, len(SUMMARY_METRICS), figsize=(4.2 * len(SUMMARY_METRICS), 3.8), dpi=110)
    drawn = {}
    for ax, (metric, label) in zip(axes, SUMMARY_METRICS):
        folds = per_fold.loc[metric]
        mean = folds.groupby(["target", "model"]).mean().unstack("model")
        sd = folds.groupby(["target", "model"]).std().unstack("model").fillna(0)
        mean.plot.bar(ax=ax, yerr=sd, capsize=2, width=0.8, legend=False)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xlabel("reference")
        ax.set_ylabel(label)
        plt.setp(ax.get_xticklabels(), rotation=0)
        drawn[metric] = mean
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8, title="model", title_fontsize=8)
    fig.suptitle(
        f"Cell-type prediction on held-out slides, {patients_phrase(rows)} (mean over the cell types; over each "
        f"fold's slides, then folds; {seeds_phrase(rows)}; bars: s.d. over folds)",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 0.88, 1))
    fig.savefig(path)
    plt.close(fig)
    return drawn


COLOCALISATION_ROWS = (
    ("nhood_enrichment_z", "colocalisation_r", "squidpy neighbourhood enrichment of the dominant types (z)"),
    ("moran_r", "colocalisation_moran_r", "bivariate Moran's R of the abundances (SpatialDM weights, as released)"),
)


def colocalisation_heatmaps(matrices: pd.DataFrame, agreement: pd.DataFrame, path) -> None:
    """Co-localisation of the cell types (mean over test slides), one row per statistic: the labels
    first, then each model, titled with the mean agreement r with the labels."""
    sources = ["labels"] + [s for s in dict.fromkeys(matrices["source"]) if s != "labels"]
    ncol = len(sources)
    side = max(3.6, 0.16 * matrices["type_a"].nunique() + 1.6)  # room for the type names
    fig, axes = plt.subplots(
        len(COLOCALISATION_ROWS),
        ncol,
        figsize=(side * ncol + 1, (side + 0.6) * len(COLOCALISATION_ROWS)),
        dpi=110,
        squeeze=False,
    )
    for row, (statistic, metric, label) in zip(axes, COLOCALISATION_ROWS):
        table = matrices[matrices["statistic"] == statistic]
        means = {
            s: table[table["source"] == s].groupby(["type_a", "type_b"])["value"].mean().unstack("type_b")
            for s in sources
        }
        types = list(means["labels"].index)
        lim = (
            max(
                float(np.nanmax(np.abs(m.to_numpy()))) if np.isfinite(m.to_numpy()).any() else 0.0
                for m in means.values()
            )
            or 1.0
        )
        for ax, s in zip(row, sources):
            m = means[s].reindex(index=types, columns=types)
            im = ax.imshow(m.to_numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_xticks(range(len(types)), types, rotation=60, ha="right", fontsize=7)
            ax.set_yticks(range(len(types)), types, fontsize=7)
            r = agreement.loc[(agreement["model"] == s) & (agreement["metric"] == metric), "value"]
            said = f"r = {r.mean():.2f}" if r.notna().any() else "r undefined: < 3 types"
            ax.set_title(s if s == "labels" else f"{s}\n{said}", fontsize=9)
        fig.colorbar(
            im,
            ax=row[-1],
            fraction=0.046,
            pad=0.02,
            label=label.split(" (")[0] if statistic == "moran_r" else "enrichment z-score",
        )
        row[0].annotate(label, (0, 1.18), xycoords="axes fraction", fontsize=9, fontweight="bold")
    fig.suptitle(
        f"co-localisation of the cell types: labels vs predictions ({patients_phrase(agreement)}; "
        f"{seeds_phrase(agreement)})",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
