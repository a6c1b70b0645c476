"""What the grids of map panels share: the thumbnail at the panels' resolution, the finishing
steps, and the whole-slide tile maps both branches draw."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402


def panel_thumbnail(thumbnail: np.ndarray, downsample: float, panel_px: float) -> tuple[np.ndarray, float]:
    """The thumbnail box-filtered down to about twice a panel's pixels, and its new downsample
    (level-0 pixels per thumbnail pixel). Resampling a 2048 px thumbnail in every panel of a grid
    took most of a map figure's time for nothing visible."""
    factor = int(max(thumbnail.shape[:2]) // (2 * panel_px))
    if factor < 2:
        return thumbnail, downsample
    return np.asarray(Image.fromarray(thumbnail).reduce(factor)), downsample * factor


def finish_panel(fig, ax, mappable, title: str) -> None:
    """Colour bar, title, no axes: one map panel of a grid."""
    fig.colorbar(mappable, ax=ax, fraction=0.046, pad=0.02)
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def save_grid(fig, axes, n_used: int, title: str, path) -> None:
    """Blank the unused panels, title the figure, save and close it."""
    for ax in axes.ravel()[n_used:]:
        ax.set_axis_off()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def tile_maps(path, title: str, values: pd.DataFrame, centres, side: float, thumbnail, downsample: float, columns: list[str], from_zero: bool = True) -> None:
    """Per-tile values (tiles x genes or cell types) painted as a raster over the thumbnail, one
    panel per column, each on its own scale: 0 (``from_zero``: counts such as abundances) or its
    1st percentile (expression, whose tile-to-tile contrast a 0 floor would flatten) to its 99th."""
    thumbnail, downsample = panel_thumbnail(thumbnail, downsample, 3.6 * 110)
    ncol = min(3, len(columns))
    nrow = math.ceil(len(columns) / ncol)
    aspect = thumbnail.shape[0] / thumbnail.shape[1]
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.6 * nrow * aspect + 0.6), dpi=110, squeeze=False)
    corners = np.asarray(centres, float) - side / 2
    origin = corners.min(axis=0)
    cells = np.rint((corners - origin) / side).astype(int)  # (column, row) on the tile grid
    shape = (cells[:, 1].max() + 1, cells[:, 0].max() + 1)
    (x0, y0), (x1, y1) = origin / downsample, (origin + side * np.array(shape[::-1])) / downsample
    extent = (x0, x1, y1, y0)
    for ax, column in zip(axes.ravel(), columns):
        grid = np.full(shape, np.nan)
        grid[cells[:, 1], cells[:, 0]] = values[column].to_numpy()
        ax.imshow(thumbnail)
        vmin = 0.0 if from_zero else float(np.nanquantile(grid, 0.01))
        vmax = max(float(np.nanquantile(grid, 0.99)), vmin + 1e-6)
        im = ax.imshow(grid, extent=extent, cmap="magma", vmin=vmin, vmax=vmax, alpha=0.75, interpolation="nearest")
        ax.set_xlim(0, thumbnail.shape[1])
        ax.set_ylim(thumbnail.shape[0], 0)
        finish_panel(fig, ax, im, column)
    save_grid(fig, axes, len(columns), title, path)
