"""QC figure of the slide stages: the tissue mask, the tile grid and the spot patches (kept and
dropped) over the slide thumbnail."""

from __future__ import annotations

import logging

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import PatchCollection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from .patches import read_patch_barcodes  # noqa: E402
from .tiles import read_thumbnail, read_tile_grid  # noqa: E402
from .tissue import share_on_tissue  # noqa: E402

log = logging.getLogger(__name__)


def tissue_spots_figure(path, thumb, downsample, mask, spots_xy, kept, tiles_xy=None, tile_side=None, title=""):
    """Thumbnail with the tissue mask outline, the tile grid and spots (kept vs dropped)."""
    fig, ax = plt.subplots(figsize=(8, 8 * thumb.shape[0] / thumb.shape[1] + 0.6), dpi=120)
    ax.imshow(thumb)
    ax.contour(mask.astype(float), levels=[0.5], colors="lime", linewidths=1.0)
    if tiles_xy is not None and len(tiles_xy):
        rects = [
            Rectangle((x / downsample, y / downsample), tile_side / downsample, tile_side / downsample)
            for x, y in tiles_xy
        ]
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


def qc_figure(out_path, spots_xy, spot_ids, title: str, tiles_path, patches_path) -> None:
    """The QC figure of one slide from its tile and patch files, the share of its spots on the
    detected tissue in the title (the patch job checks it: ``tissue.check_spots_on_tissue``)."""
    thumb, grid = read_thumbnail(tiles_path), read_tile_grid(tiles_path)
    kept = np.isin(np.asarray(spot_ids).astype(str), read_patch_barcodes(patches_path))
    on_tissue = share_on_tissue(thumb.tissue_mask, thumb.downsample, np.asarray(spots_xy))
    title = f"{title}\n{100 * on_tissue:.0f}% of spots on detected tissue"
    tissue_spots_figure(
        out_path, thumb.image, thumb.downsample, thumb.tissue_mask, spots_xy, kept, grid.coords, grid.side_level0, title
    )
