"""The spot patch file (``patches/{sample}.h5``), in HEST layout: ``img`` (N, H, W, 3) uint8,
``coords`` (N, 2) level-0 top-left corners, ``barcode`` (N, 1), the geometry in ``img``'s
attributes. Owner of that layout: ``write_patches_h5`` writes it; ``read_patches_h5``,
``read_patch_barcodes`` and ``read_patch_images`` read it. Light: h5py and numpy only."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ..atomic import atomic_path
from .scale import ImageScale


def patch_scale_attrs(scale: ImageScale) -> dict:
    """The scale as HEST names it in a patch file's ``img`` attributes."""
    return {"patch_size": scale.px, "pixel_size": scale.um_per_px}


def read_patch_scale(path: str | Path) -> ImageScale:
    """The scale a patch file was cut at."""
    with h5py.File(path, "r") as f:
        attrs = f["img"].attrs
        return ImageScale(float(attrs["pixel_size"]), int(attrs["patch_size"]))


def write_patches_h5(path: str | Path, images: np.ndarray, coords: np.ndarray, barcodes, attrs: dict) -> None:
    """HEST patch layout: ``img`` (N, H, W, 3) uint8, ``coords`` (N, 2) level-0 top-left, ``barcode`` (N, 1)."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            n = len(images)
            chunk = (1, *images.shape[1:]) if n else None
            f.create_dataset("img", data=images, chunks=chunk, compression="lzf" if n else None)
            f.create_dataset("coords", data=np.asarray(coords, dtype=np.int64).reshape(-1, 2))
            f.create_dataset("barcode", data=np.asarray([str(b) for b in barcodes], dtype="S").reshape(-1, 1))
            for key, value in attrs.items():
                f["img"].attrs[key] = value


def read_patches_h5(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(images, level-0 top-left coords, barcodes, attributes)."""
    with h5py.File(path, "r") as f:
        attrs = dict(f["img"].attrs)
        return f["img"][:], f["coords"][:], f["barcode"][:, 0].astype(str), attrs


def read_patch_barcodes(path: str | Path) -> np.ndarray:
    """The spot barcode of every patch, in file order (no image is read)."""
    with h5py.File(path, "r") as f:
        return f["barcode"][:, 0].astype(str)


def read_patch_images(path: str | Path, keep: np.ndarray | None = None) -> np.ndarray:
    """uint8 [N, H, W, 3] patches, only those selected by the boolean ``keep`` when given."""
    with h5py.File(path, "r") as f:
        images = f["img"][:]
    return images if keep is None else images[keep]
