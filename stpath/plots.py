"""What the grids of map panels share: the thumbnail at the panels' resolution, and the finishing
steps."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
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
