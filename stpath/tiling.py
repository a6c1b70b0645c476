"""Whole-slide tile grid: tissue mask on a thumbnail, tissue tiles cut once into HDF5."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from .atomic import atomic_path
from .errors import InputError
from .patches import extract
from .slide import open_slide, thumbnail
from .tissue import TissueParams, tile_grid, tissue_mask

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TilingParams:
    target_um_per_px: float = 0.5
    tile_px: int = 224
    min_tile_tissue: float = 0.5


def tile_slide(slide_path, um_per_px: float, tissue: TissueParams, tiling: TilingParams, out_path) -> int:
    """Detect tissue and write every tissue tile to ``out_path``; returns the number of tiles.

    The file holds ``img`` (N, tile_px, tile_px, 3) uint8, ``coords`` (N, 2) level-0 top-left,
    ``tissue_fraction`` (N,), and the ``thumbnail`` with its ``tissue_mask`` for figures.
    """
    slide = open_slide(slide_path)
    thumb, down = thumbnail(slide, tissue.thumbnail_px)
    mask = tissue_mask(thumb, um_per_px * down, tissue)
    if not mask.any():
        raise InputError(
            slide_path,
            "no tissue detected on the slide thumbnail (the image looks empty or unstained)",
            "check that this is the H&E slide of the sample; for faint stains lower tissue.min_region_um2",
        )
    windows, fraction = tile_grid(
        slide, mask, um_per_px, tiling.target_um_per_px, tiling.tile_px, tiling.min_tile_tissue, slide_path
    )
    n = len(windows.xy)
    log.info("%s: tissue covers %.1f%% of the slide; %d tiles of %d px at %.3f um/px (level %d, %d px)",
             Path(slide_path).name, 100 * mask.mean(), n, tiling.tile_px, tiling.target_um_per_px, windows.level, windows.size)
    start = time.perf_counter()
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as f:
        shape = (n, tiling.tile_px, tiling.tile_px, 3)
        img = f.create_dataset("img", shape=shape, dtype=np.uint8, chunks=(1, *shape[1:]), compression="lzf")

        def sink(idx, images):
            order = np.argsort(idx)  # h5py writes need increasing indices
            img[idx[order]] = images[order]

        extract(slide, windows, tiling.tile_px, sink=sink)
        f.create_dataset("coords", data=windows.coords_level0)
        f.create_dataset("tissue_fraction", data=fraction.astype(np.float32))
        f.create_dataset("thumbnail", data=thumb)
        f.create_dataset("tissue_mask", data=mask)
        attrs = {
            "slide": str(slide_path),
            "um_per_px": um_per_px,
            "target_um_per_px": tiling.target_um_per_px,
            "tile_px": tiling.tile_px,
            "level": windows.level,
            "level_downsample": windows.downsample,
            "window_level_px": windows.size,
            "thumbnail_downsample": down,
            "slide_width": slide.dimensions[0],
            "slide_height": slide.dimensions[1],
        }
        f.attrs.update(attrs)
    elapsed = time.perf_counter() - start
    log.info("wrote %d tiles in %.1f s (%.0f tiles/s)", n, elapsed, n / max(elapsed, 1e-9))
    slide.close()
    return n
