"""Cut square windows (spot patches or tissue tiles) out of a slide at a target pixel size.

Windows are placed on the pyramid level closest to (and not coarser than) the target scale, then
read in horizontal bands: every slide tile is decoded about once, instead of once per overlapping
window as a per-spot ``read_region`` loop does. Each window is resized to ``px`` with PIL.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import openslide
from PIL import Image
from tqdm import tqdm

from .scale import ImageScale
from .slide import read_rgb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Windows:
    """Square windows of ``size`` level pixels at pyramid ``level``; ``xy`` are level top-lefts."""

    level: int
    downsample: float
    size: int
    xy: np.ndarray  # (N, 2) int64, top-left at `level`

    def subset(self, keep: np.ndarray) -> "Windows":
        """The same geometry, only the windows selected by ``keep`` (mask or indices)."""
        return Windows(self.level, self.downsample, self.size, self.xy[keep])

    @property
    def coords_level0(self) -> np.ndarray:
        """Top-left corners in level-0 pixels (the HEST ``coords``)."""
        return np.rint(self.xy * self.downsample).astype(np.int64)


def choose_level(slide: openslide.AbstractSlide, downsample: float) -> int:
    """The coarsest level whose downsample does not exceed ``downsample`` (never upsample a level)."""
    levels = [i for i, d in enumerate(slide.level_downsamples) if d <= max(downsample, 1.0) * (1 + 1e-6)]
    return max(levels) if levels else 0


def window_geometry(
    slide: openslide.AbstractSlide, slide_um_per_px: float, scale: ImageScale
) -> tuple[int, float, int]:
    """(level, level downsample, window side at that level) for images at ``scale``."""
    side_level0 = scale.field_um / slide_um_per_px
    level = choose_level(slide, side_level0 / scale.px)
    downsample = float(slide.level_downsamples[level])
    return level, downsample, int(round(side_level0 / downsample))


def centred_windows(slide, centres_level0: np.ndarray, slide_um_per_px: float, scale: ImageScale) -> Windows:
    level, d, size = window_geometry(slide, slide_um_per_px, scale)
    xy = np.rint(np.asarray(centres_level0, dtype=float) / d - size / 2.0).astype(np.int64)
    return Windows(level, d, size, xy.reshape(-1, 2))


def inside(slide: openslide.AbstractSlide, windows: Windows) -> np.ndarray:
    """Boolean mask of windows that lie entirely inside the level."""
    W, H = slide.level_dimensions[windows.level]
    xy = windows.xy
    return (xy[:, 0] >= 0) & (xy[:, 1] >= 0) & (xy[:, 0] + windows.size <= W) & (xy[:, 1] + windows.size <= H)


def resize(crop: np.ndarray, px: int) -> np.ndarray:
    if crop.shape[0] == px and crop.shape[1] == px:
        return crop
    return np.asarray(Image.fromarray(crop).resize((px, px), Image.Resampling.BILINEAR))


def read_window(slide: openslide.AbstractSlide, windows: Windows, i: int, px: int) -> np.ndarray:
    """One window read directly with ``read_region`` (the reference the band reader must equal)."""
    x0, y0 = windows.coords_level0[i]
    crop = read_rgb(slide, (x0, y0), windows.level, (windows.size, windows.size))
    return resize(crop, px)


def iter_bands(windows: Windows, band_rows: int, max_windows: int | None = None):
    """Group windows into horizontal bands of about ``band_rows`` level rows, ordered top to bottom,
    of at most ``max_windows`` windows each (what bounds a band's cut images when windows are
    upsampled: a few level pixels each, thousands to a band).

    Yields (window indices, band top-left x/y, band width/height) in level pixels.
    """
    order = np.argsort(windows.xy[:, 1], kind="stable")
    ys = windows.xy[order, 1]
    start = 0
    while start < len(order):
        top = ys[start]
        bottom = top + max(band_rows, windows.size)
        stop = int(np.searchsorted(ys, bottom - windows.size, side="right"))
        if max_windows:
            stop = min(stop, start + max_windows)
        idx = order[start:stop]
        x0 = int(windows.xy[idx, 0].min())
        x1 = int(windows.xy[idx, 0].max()) + windows.size
        y1 = int(windows.xy[idx, 1].max()) + windows.size
        yield idx, (x0, int(top)), (x1 - x0, y1 - int(top))
        start = stop


def bounded_map(pool: Executor, fn, items, in_flight: int):
    """``pool.map(fn, items)`` in order, with at most ``in_flight`` items submitted and not yet
    consumed (``Executor.map`` submits every item at once and keeps every result until it is read)."""
    pending = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= in_flight:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def extract(
    slide: openslide.AbstractSlide,
    windows: Windows,
    px: int,
    band_bytes: int = 128 << 20,
    progress: bool = True,
    sink=None,
    workers: int | None = None,
) -> np.ndarray | None:
    """Extract every window; returns (N, px, px, 3) uint8 in window order.

    Bands are read and cut on ``workers`` threads (OpenSlide's decoding and PIL's resizing release
    the GIL; OpenSlide handles are thread-safe). With ``sink(indices, images)`` given, bands are
    handed over as they are done instead of being collected (for tile grids larger than memory).
    Memory is bounded by the band size, never by the grid's: a band holds at most ``band_bytes`` of
    cut windows, and at most ``workers + 1`` bands are in flight however slowly ``sink`` stores them.
    """
    n = len(windows.xy)
    out = None if sink else np.empty((n, px, px, 3), dtype=np.uint8)
    if n == 0:
        return out
    width = int(np.ptp(windows.xy[:, 0])) + windows.size
    band_rows = max(windows.size, band_bytes // (4 * max(width, 1)))
    max_windows = max(1, band_bytes // (3 * px * px))
    d = windows.downsample
    workers = workers or min(4, os.cpu_count() or 1)

    def cut(band_spec):
        idx, (bx, by), (bw, bh) = band_spec
        band = read_rgb(slide, (round(bx * d), round(by * d)), windows.level, (bw, bh))
        rel = windows.xy[idx] - (bx, by)
        return idx, np.stack([resize(band[y : y + windows.size, x : x + windows.size], px) for x, y in rel])

    bar = tqdm(total=n, desc="windows", unit="win", disable=not progress, mininterval=2.0)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for idx, images in bounded_map(pool, cut, iter_bands(windows, band_rows, max_windows), workers + 1):
            if sink:
                sink(idx, images)
            else:
                out[idx] = images
            bar.update(len(idx))
    bar.close()
    return out
