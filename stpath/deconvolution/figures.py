"""QC figures of the deconvolution stage (registered in the report)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import PatchCollection  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402

from ..plots import finish_panel, panel_thumbnail, save_grid  # noqa: E402


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


def abundance_maps(abundance: pd.DataFrame, xy: np.ndarray, path, title: str, thumbnail=None, downsample: float = 1.0, spot_px: float | None = None) -> None:
    """One panel per cell type: spots coloured by abundance, over the H&E thumbnail when there is one."""
    types = list(abundance.columns)
    ncol = min(4, len(types))
    nrow = math.ceil(len(types) / ncol)
    if thumbnail is not None:
        thumbnail, downsample = panel_thumbnail(thumbnail, downsample, 3.2 * 110)
    pts = np.asarray(xy, float) / downsample
    if thumbnail is not None:
        aspect = thumbnail.shape[0] / thumbnail.shape[1]
    else:
        span = np.ptp(pts, axis=0) + 1e-9
        aspect = span[1] / span[0]
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 3.2 * nrow * aspect + 0.5), dpi=110, squeeze=False)
    for ax, t in zip(axes.ravel(), types):
        if thumbnail is not None:
            ax.imshow(thumbnail)
        values = abundance[t].to_numpy()
        vmax = max(float(np.quantile(values, 0.99)), 1e-6)
        if spot_px:  # spots drawn at their true size on the thumbnail
            circles = [Circle((x, y), spot_px / 2 / downsample) for x, y in pts]
            sc = PatchCollection(circles, cmap="magma", linewidths=0, alpha=0.9)
            sc.set_array(values)
            sc.set_clim(0, vmax)
            ax.add_collection(sc)
            ax.autoscale_view()
        else:
            sc = ax.scatter(pts[:, 0], pts[:, 1], c=values, s=8.0, cmap="magma", vmin=0, vmax=vmax, linewidths=0, alpha=0.9)
        if thumbnail is None:
            ax.invert_yaxis()
            ax.set_aspect("equal")
        finish_panel(fig, ax, sc, t)
    save_grid(fig, axes, len(types), title, path)


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
