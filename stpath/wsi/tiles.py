"""The tissue tile file (``tiles/{sample}.h5``): every tissue tile of a slide's tile grid, cut once.

Layout: ``img`` (N, px, px, 3) uint8, ``coords`` (N, 2) level-0 top-left corners,
``tissue_fraction`` (N,), the slide ``thumbnail`` with its ``tissue_mask`` for figures, and the
geometry in the file's attributes. Owner of that layout: ``write_tiles`` writes it (the tiles
arrive in bands while the slide is cut); ``read_tile_grid`` (with the scale the tiles
were cut at), ``read_thumbnail`` and ``iter_tile_images`` read it. Light: h5py and numpy only."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import h5py
import numpy as np

from ..atomic import atomic_path
from .scale import ImageScale


@contextlib.contextmanager
def write_tiles(
    path,
    coords: np.ndarray,
    px: int,
    tissue_fraction: np.ndarray,
    thumbnail: np.ndarray,
    tissue_mask: np.ndarray,
    attrs: dict,
):
    """Yield ``sink(indices, images)`` that stores tiles as they are cut; the file appears at
    ``path`` only when the block completes."""
    n = len(coords)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        shape = (n, px, px, 3)
        img = f.create_dataset("img", shape=shape, dtype=np.uint8, chunks=(1, *shape[1:]), compression="lzf")

        def sink(idx, images):
            order = np.argsort(idx)  # h5py writes need increasing indices
            img[idx[order]] = images[order]

        yield sink
        f.create_dataset("coords", data=coords)
        f.create_dataset("tissue_fraction", data=tissue_fraction.astype(np.float32))
        f.create_dataset("thumbnail", data=thumbnail)
        f.create_dataset("tissue_mask", data=tissue_mask)
        f.attrs.update(attrs)


@dataclass(frozen=True)
class TileGrid:
    """The tissue tiles of a slide: top-left corners and side in level-0 pixels, and the file's
    geometry attributes (pixel sizes, pyramid level, slide size)."""

    coords: np.ndarray  # (N, 2) level-0 top-left corners
    side_level0: float
    attrs: dict

    def __len__(self) -> int:
        return len(self.coords)

    @property
    def scale(self) -> ImageScale:
        """The scale the tiles were cut at."""
        return ImageScale(float(self.attrs["um_per_px"]), int(self.attrs["px"]))

    @property
    def centres(self) -> np.ndarray:
        return (self.coords + self.side_level0 / 2).astype(np.float64)


@dataclass(frozen=True)
class Thumbnail:
    image: np.ndarray  # RGB
    downsample: float  # level-0 pixels per thumbnail pixel
    tissue_mask: np.ndarray


def read_tile_grid(path) -> TileGrid:
    with h5py.File(path, "r") as f:
        attrs = {k: v.item() if hasattr(v, "item") else v for k, v in f.attrs.items()}
        coords = f["coords"][:]
    return TileGrid(coords, float(attrs["window_level_px"]) * float(attrs["level_downsample"]), attrs)


def read_thumbnail(path) -> Thumbnail:
    with h5py.File(path, "r") as f:
        return Thumbnail(f["thumbnail"][:], float(f.attrs["thumbnail_downsample"]), f["tissue_mask"][:])


def iter_tile_images(path, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
    """(first index, uint8 [n, px, px, 3]) for consecutive chunks of tiles: a slide's tiles need
    not fit in memory."""
    with h5py.File(path, "r") as f:
        images = f["img"]
        for start in range(0, len(images), chunk):
            yield start, images[start : start + chunk]
