"""The finishing steps shared by the grids of map panels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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
