"""QC figures of the deconvolution stage (registered in the report)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..plots import SpotView, finish_panel, save_grid, spot_grid  # noqa: E402


def elbo_history(history: pd.Series, title: str, path) -> None:
    """ELBO loss per epoch, whole run and its last 80% (cell2location's plot_history convention)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), dpi=110)
    start = int(len(history) * 0.2)
    for ax, (lo, label) in zip(axes, [(0, "all epochs"), (start, f"epochs {start + 1}-{len(history)}")]):
        part = history.iloc[lo:]
        ax.plot(np.arange(lo + 1, len(history) + 1), part.to_numpy(), lw=1.0)
        ax.set_xlabel("epoch")
        ax.set_ylabel("-ELBO loss")
        ax.set_title(label, fontsize=9)
        if lo == 0 and part.min() > 0:
            ax.set_yscale("log")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def reconstruction(observed: np.ndarray, expected: np.ndarray, path) -> float:
    """2D histogram of observed vs expected counts (log10(x+1)); returns Pearson r on that scale."""
    x, y = np.log10(observed.ravel() + 1), np.log10(expected.ravel() + 1)
    r = float(np.corrcoef(x, y)[0, 1])
    fig, ax = plt.subplots(figsize=(5, 4.6), dpi=110)
    top = max(x.max(), y.max())
    h = ax.hist2d(x, y, bins=60, range=[[0, top], [0, top]], norm=matplotlib.colors.LogNorm(), cmap="viridis")
    fig.colorbar(h[3], ax=ax, label="gene x spot pairs")
    ax.plot([0, top], [0, top], color="white", lw=0.8, ls="--")
    ax.set_xlabel("observed count, log10(x+1)")
    ax.set_ylabel("expected count (posterior median), log10(x+1)")
    ax.set_title(f"cell2location reconstruction accuracy (r = {r:.3f})", fontsize=10)
    ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return r


def abundance_maps(abundance: pd.DataFrame, view: SpotView, path, title: str) -> None:
    """One panel per cell type: spots coloured by abundance at their physical size, on the
    tissue's extent of the H&E when there is one; each panel from 0 to its 99th percentile."""
    types = list(abundance.columns)
    ncol = min(4, len(types))
    nrow = math.ceil(len(types) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 3.2 * nrow * view.aspect + 0.5), dpi=110, squeeze=False)
    for ax, t in zip(axes.ravel(), types):
        values = abundance[t].to_numpy()
        sc = view.draw(ax, values, 0.0, max(float(np.quantile(values, 0.99)), 1e-6))
        finish_panel(fig, ax, sc, t)
    save_grid(fig, axes, len(types), title, path)


def comparison_maps(
    panels: dict[str, pd.DataFrame], types: list[str], view: SpotView, path, title: str, r: dict | None = None
) -> None:
    """Rows: cell types; columns: the published proportions, then each method's, on the published
    column's scale (``plots.spot_grid``); ``r[(method, type)]`` in the titles."""
    spot_grid(path, title, panels, types, view, side=2.9, label="proportion", scores=r)


def check_heatmaps(check: pd.DataFrame, path, title: str) -> None:
    """Per tier (rows) and method (columns): Pearson r of the proportions per type x section,
    the mean over types as the last row, annotated."""
    tiers, methods = list(dict.fromkeys(check["tier"])), list(dict.fromkeys(check["method"]))
    heights = [check[check["tier"] == t]["type"].nunique() for t in tiers]
    sections = list(dict.fromkeys(check["section"]))
    fig, axes = plt.subplots(
        len(tiers),
        len(methods),
        figsize=(1.2 + 0.75 * len(sections) * len(methods) + 2.2, 0.32 * sum(heights) + 1.6 * len(tiers)),
        dpi=110,
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    for row, tier in zip(axes, tiers):
        part = check[check["tier"] == tier]
        types = [t for t in dict.fromkeys(part["type"]) if t != "mean"] + ["mean"]
        for ax, method in zip(row, methods):
            wide = (
                part[part["method"] == method]
                .pivot(index="type", columns="section", values="pearson")
                .reindex(index=types, columns=sections)
            )
            im = ax.imshow(wide.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
            for (i, j), v in np.ndenumerate(wide.to_numpy()):
                if np.isfinite(v):
                    ax.text(
                        j,
                        i,
                        f"{v:.2f}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if abs(v) > 0.6 else "black",
                    )
            ax.set_xticks(range(len(sections)), sections, fontsize=7)
            ax.set_yticks(range(len(types)), types, fontsize=7)
            ax.axhline(len(types) - 1.5, color="black", lw=0.8)
            ax.set_title(f"{tier} tier: {method}", fontsize=9)
        fig.colorbar(im, ax=row[-1], fraction=0.05, pad=0.02, label="Pearson r across spots")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    fig.savefig(path)
    plt.close(fig)


def per_type_bars(table: pd.DataFrame, value: str, title: str, ylabel: str, path, hue: str | None = None) -> None:
    """Bars per cell type (and per ``hue`` level), the mean over types as its own bar."""
    wide = table.pivot(index="cell_type", columns=hue, values=value) if hue else table.set_index("cell_type")[[value]]
    order = [t for t in wide.index if t != "mean"] + (["mean"] if "mean" in wide.index else [])
    wide = wide.loc[order]
    fig, ax = plt.subplots(figsize=(max(5, 0.55 * len(wide) * max(1, wide.shape[1]) + 1.5), 3.8), dpi=110)
    wide.plot.bar(ax=ax, width=0.8, legend=bool(hue))
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("")
    ax.set_ylim(min(-0.1, float(np.nanmin(wide.to_numpy())) - 0.05), 1.0)
    ax.set_title(title, fontsize=10)
    plt.setp(ax.get_xticklabels(), rotation=40, ha="right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
