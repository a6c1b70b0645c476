"""QC figures, and the finishing steps shared by the grids of map panels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402


def tissue_spots_figure(path, thumb, downsample, mask, spots_xy, kept, tiles_xy=None, tile_side=None, title=""):
    """Thumbnail with the tissue mask outline, the tile grid and spots (kept vs dropped)."""
    fig, ax = plt.subplots(figsize=(8, 8 * thumb.shape[0] / thumb.shape[1] + 0.6), dpi=120)
    ax.imshow(thumb)
    ax.contour(mask.astype(float), levels=[0.5], colors="lime", linewidths=1.0)
    if tiles_xy is not None and len(tiles_xy):
        from matplotlib.collections import PatchCollection
        from matplotlib.patches import Rectangle

        rects = [Rectangle((x / downsample, y / downsample), tile_side / downsample, tile_side / downsample) for x, y in tiles_xy]
        ax.add_collection(PatchCollection(rects, facecolor="none", edgecolor="gold", linewidth=0.3, alpha=0.6))
    xy = np.asarray(spots_xy) / downsample
    ax.scatter(xy[kept, 0], xy[kept, 1], s=6, c="tab:blue", linewidths=0)
    ax.scatter(xy[~kept, 0], xy[~kept, 1], s=10, c="red", marker="x", linewidths=0.8)
    handles = [
        Line2D([], [], color="lime", label="tissue mask"),
        Line2D([], [], color="gold", label="tissue tiles"),
        Line2D([], [], marker="o", ls="", color="tab:blue", label=f"spot patches ({int(kept.sum())})"),
        Line2D([], [], marker="x", ls="", color="red", label=f"dropped: window leaves slide ({int((~kept).sum())})"),
    ]
    ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.85)
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()
    fig.tight_layout()
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
