"""Figures of the expression models: training curves, per-gene PCC distributions, the summary bar
chart, and measured vs predicted maps of a slide's best and median genes over its H&E."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..metrics import patients_phrase, pearson_columns, seeds_phrase  # noqa: E402
from ..plots import SpotView  # noqa: E402
from ..predictions import SpotPrediction  # noqa: E402


def training_curves(histories: dict[tuple[str, int], pd.DataFrame], path) -> None:
    """Train and validation loss per epoch, one panel per model, one colour per fold. Models
    fitted in closed form on a frozen encoder (no epochs, no loss) are named in a panel of their own."""
    trained = {k: h for k, h in histories.items() if "train_loss" in h}
    models = sorted({m for m, _ in trained})
    frozen = sorted({m for m, _ in histories} - set(models))
    fig, axes = plt.subplots(
        1, len(models) + bool(frozen), figsize=(4.2 * (len(models) + bool(frozen)), 3.4), dpi=110, squeeze=False
    )
    if frozen:
        ax = axes[0, -1]
        ax.text(
            0.5,
            0.5,
            "fitted in closed form on frozen features,\nno training epochs:\n" + "\n".join(frozen),
            ha="center",
            va="center",
            fontsize=9,
        )
        ax.set_axis_off()
    for ax, model in zip(axes[0], models):
        for (m, fold), h in sorted(trained.items()):
            if m != model:
                continue
            line = ax.plot(h.epoch, h.train_loss, lw=1.0, label=f"fold {fold} train")[0]
            ax.plot(h.epoch, h.val_loss, lw=1.0, ls="--", color=line.get_color(), label=f"fold {fold} val")
        ax.set_title(model, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def per_gene_distributions(per_gene: pd.DataFrame, path) -> None:
    """Distribution of per-gene PCC over all test slides, per model."""
    models = sorted(per_gene.model.unique())
    fig, ax = plt.subplots(figsize=(1.8 * len(models) + 2, 3.6), dpi=110)
    data = [per_gene.loc[per_gene.model == m, "pearson_r"].to_numpy() for m in models]
    ax.violinplot(data, showmedians=True)
    ax.set_xticks(range(1, len(models) + 1), models)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("Pearson r per gene (test spots of a slide)")
    ax.set_title(
        f"Per-gene PCC, all genes and held-out slides ({patients_phrase(per_gene)}; {seeds_phrase(per_gene)} pooled)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def summary_bars(summary: pd.DataFrame, path) -> None:
    """Mean PCC per model and gene set: the per-slide rows averaged over each fold's slides, then
    over folds, as the releases report them (``metrics.headline``); pooled rows averaged over
    folds. Error bars: s.d. over the folds' means."""
    pcc = summary[summary.metric == "pearson_mean"].copy()
    pcc["set"] = pcc.gene_set + " (" + pcc.protocol.str.replace("_", "-") + ")"
    per_fold = pcc.groupby(["set", "model", "fold"]).value.mean()
    mean = per_fold.groupby(["set", "model"]).mean().unstack("model")
    sd = per_fold.groupby(["set", "model"]).std().unstack("model").fillna(0)
    fig, ax = plt.subplots(figsize=(1.6 * len(mean) + 2.5, 3.8), dpi=110)
    mean.plot.bar(ax=ax, yerr=sd, capsize=2, width=0.8)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("")
    ax.set_ylabel("mean Pearson r")
    ax.set_title(
        f"Expression prediction on held-out slides, {patients_phrase(pcc)} (mean over each fold's slides, then "
        f"folds; {seeds_phrase(pcc)}; bars: s.d. over folds)",
        fontsize=9,
    )
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def gene_maps(predictions: dict[str, SpotPrediction], reference_model: str, view: SpotView, path, title: str) -> None:
    """Rows: the slide's best and median gene (by ``reference_model``'s PCC); columns: measured,
    then each model's prediction; spots at their physical size on the tissue's extent of the H&E,
    one colour scale per row."""
    ref = predictions[reference_model]
    measured = ref.target.to_numpy()
    r = pearson_columns(ref.predicted.to_numpy(), measured)
    order = np.argsort(-r)
    rows = [("best", order[0]), ("median", order[len(order) // 2])]
    models = list(predictions)
    fig, axes = plt.subplots(
        len(rows),
        len(models) + 1,
        figsize=(3.0 * (len(models) + 1) + 0.8, 3.0 * view.aspect * len(rows) + 0.8),
        dpi=110,
        squeeze=False,
        layout="constrained",
    )
    for (label, g), row in zip(rows, axes):
        gene = ref.predicted.columns[g]
        values = [measured[:, g]] + [predictions[m].predicted.to_numpy()[:, g] for m in models]
        lo, hi = np.quantile(values[0], [0.01, 0.99])
        for ax, v, name in zip(row, values, ["measured"] + models):
            sc = view.draw(ax, v, lo, max(hi, lo + 1e-6), cmap="viridis")
            rr = "" if name == "measured" else f", r={pearson_columns(v[:, None], measured[:, g : g + 1])[0]:.2f}"
            ax.set_title(f"{gene} ({label}) {name}{rr}", fontsize=8)
        fig.colorbar(sc, ax=row[-1], fraction=0.046, pad=0.02, label="log1p(normalised)")
    fig.suptitle(title, fontsize=10)
    fig.savefig(path)
    plt.close(fig)
