"""What the grids of map panels share: the thumbnail at the panels' resolution, spots drawn at
their physical size on the tissue's extent (``SpotView``), the finishing steps, and the whole-slide
tile maps both branches draw."""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import PatchCollection  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402
from PIL import Image  # noqa: E402


def panel_thumbnail(thumbnail: np.ndarray, downsample: float, panel_px: float) -> tuple[np.ndarray, float]:
    """The thumbnail box-filtered down to about twice a panel's pixels, and its new downsample
    (level-0 pixels per thumbnail pixel). Resampling a 2048 px thumbnail in every panel of a grid
    took most of a map figure's time for nothing visible."""
    factor = int(max(thumbnail.shape[:2]) // (2 * panel_px))
    if factor < 2:
        return thumbnail, downsample
    return np.asarray(Image.fromarray(thumbnail).reduce(factor)), downsample * factor


def spacing(xy: np.ndarray) -> float:
    """The median distance from a spot to its nearest neighbour (1 for a single spot)."""
    if len(xy) < 2:
        return 1.0
    from scipy.spatial import cKDTree

    return float(np.median(cKDTree(xy).query(xy, k=2)[0][:, 1])) or 1.0


@dataclass(frozen=True)
class SpotView:
    """The part of a slide a spot map shows: the thumbnail cropped to the spots' extent (plus one
    spot diameter), the spot centres and radius in its pixels. Spots are drawn as discs of their
    physical diameter, so a section's pattern reads as tissue, not as dots on a whole thumbnail."""

    image: np.ndarray | None  # RGB crop, None without a slide
    xy: np.ndarray  # spot centres in the crop's pixels
    radius: float  # spot radius in the crop's pixels

    @classmethod
    def of(
        cls, xy, diameter: float | None, thumbnail=None, downsample: float = 1.0, panel_px: float = 300.0
    ) -> "SpotView":
        """``xy`` and ``diameter`` in level-0 pixels (None: half the spots' spacing); ``thumbnail`` with its ``downsample``
        (level-0 pixels per thumbnail pixel), reduced to about twice ``panel_px`` after cropping."""
        xy = np.asarray(xy, float)
        diameter = diameter or spacing(xy) / 2
        lo, hi = xy.min(axis=0) - diameter, xy.max(axis=0) + diameter
        if thumbnail is None:
            return cls(None, xy - lo, diameter / 2)
        h, w = thumbnail.shape[:2]
        x0, y0 = (max(int(v), 0) for v in np.floor(lo / downsample))
        x1, y1 = min(int(np.ceil(hi[0] / downsample)), w), min(int(np.ceil(hi[1] / downsample)), h)
        crop, scale = panel_thumbnail(np.ascontiguousarray(thumbnail[y0:y1, x0:x1]), downsample, panel_px)
        return cls(crop, (xy - np.array([x0, y0]) * downsample) / scale, diameter / 2 / scale)

    @property
    def aspect(self) -> float:
        """Height over width of a panel."""
        if self.image is not None:
            return self.image.shape[0] / self.image.shape[1]
        span = np.ptp(self.xy, axis=0) + 2 * self.radius
        return float(span[1] / max(span[0], 1e-9))

    def draw(self, ax, values, vmin: float, vmax: float, cmap: str = "magma"):
        """The spots coloured by ``values`` on ``vmin``..``vmax``; returns the mappable."""
        if self.image is not None:
            ax.imshow(self.image)
        circles = PatchCollection([Circle((x, y), self.radius) for x, y in self.xy], cmap=cmap, linewidths=0, alpha=0.9)
        circles.set_array(np.asarray(values, float))
        circles.set_clim(vmin, vmax)
        ax.add_collection(circles)
        if self.image is not None:
            ax.set_xlim(0, self.image.shape[1])
            ax.set_ylim(self.image.shape[0], 0)
        else:
            ax.set_xlim(self.xy[:, 0].min() - self.radius, self.xy[:, 0].max() + self.radius)
            ax.set_ylim(self.xy[:, 1].max() + self.radius, self.xy[:, 1].min() - self.radius)
        ax.set_aspect("equal")
        ax.set_axis_off()
        return circles


def spot_grid(
    path,
    title: str,
    panels: dict[str, pd.DataFrame],
    rows: list[str],
    view: SpotView,
    side: float = 2.8,
    label: str = "",
    scores: dict | None = None,
) -> None:
    """Rows: ``rows`` (columns of every panel, e.g. cell types); columns: the panels, the first being
    the reference; spots at their physical size on the tissue's extent, one colour scale per row (0
    to the reference's 99th percentile); ``scores[(panel, row)]`` (e.g. r) in the titles."""
    names = list(panels)
    fig, axes = plt.subplots(
        len(rows),
        len(names),
        figsize=(side * len(names) + 0.8, side * view.aspect * len(rows) + 0.7),
        dpi=110,
        squeeze=False,
        layout="constrained",
    )
    for row, t in zip(axes, rows):
        vmax = max(float(np.quantile(panels[names[0]][t], 0.99)), 1e-6)
        for ax, name in zip(row, names):
            art = view.draw(ax, panels[name][t].to_numpy(), 0.0, vmax)
            score = (scores or {}).get((name, t))
            ax.set_title(f"{t}\n{name}" + (f", r = {score:.2f}" if score is not None else ""), fontsize=8)
        fig.colorbar(art, ax=row[-1], fraction=0.046, pad=0.02, label=label)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path)
    plt.close(fig)


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


def tile_maps(
    path,
    title: str,
    values: pd.DataFrame,
    centres,
    side: float,
    thumbnail,
    downsample: float,
    columns: list[str],
    from_zero: bool = True,
) -> None:
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


def save_tile_map(path, title: str, prediction, tiles_file, columns: list[str], from_zero: bool) -> None:
    """A whole-slide prediction (``stpath.predictions.TilePrediction``) as ``tile_maps`` over the
    H&E thumbnail stored in its tiles file, written atomically: the in-run maps and the maps of an
    applied bundle are drawn alike."""
    from .atomic import atomic_path
    from .wsi.tiles import read_thumbnail

    thumb = read_thumbnail(tiles_file)
    with atomic_path(path) as tmp:
        tile_maps(
            tmp,
            title,
            prediction.predicted,
            prediction.centres,
            prediction.side_level0,
            thumb.image,
            thumb.downsample,
            columns,
            from_zero=from_zero,
        )
