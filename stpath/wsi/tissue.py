"""Tissue detection on a slide thumbnail and the whole-slide tile grid at a target pixel size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import openslide
from skimage import color, filters, morphology

from ..errors import InputError
from .windows import Windows, window_geometry


@dataclass(frozen=True)
class TissueParams:
    thumbnail_px: int = 2048  # longer side of the thumbnail the mask is computed on
    min_region_um2: float = 50_000.0  # tissue islands smaller than this are removed
    max_hole_um2: float = 20_000.0  # holes smaller than this are filled

    @classmethod
    def from_config(cls, section: dict) -> "TissueParams":
        return cls(**section)


def tissue_mask(thumb: np.ndarray, um_per_thumb_px: float, params: TissueParams) -> np.ndarray:
    """Boolean tissue mask: Otsu threshold on saturation (stained tissue vs white glass), cleaned."""
    hsv = color.rgb2hsv(thumb)
    sat = filters.gaussian(hsv[..., 1], sigma=1.0)
    value = hsv[..., 2]
    if np.ptp(sat) < 1e-3:
        return np.zeros(sat.shape, dtype=bool)
    mask = (sat > filters.threshold_otsu(sat)) & (value > 0.1)  # black borders/pen are not tissue
    px_area = um_per_thumb_px**2
    mask = morphology.binary_closing(mask, morphology.disk(2))
    mask = morphology.remove_small_objects(mask, max_size=max(int(params.min_region_um2 / px_area), 1))
    mask = morphology.remove_small_holes(mask, max_size=max(int(params.max_hole_um2 / px_area), 1))
    return mask


def tile_grid(
    slide: openslide.AbstractSlide,
    mask: np.ndarray,
    um_per_px: float,
    target_um_per_px: float,
    tile_px: int,
    min_tissue: float,
    path=None,
) -> tuple[Windows, np.ndarray]:
    """Non-overlapping tiles covering the slide; keeps those whose tissue fraction >= ``min_tissue``."""
    level, d, size = window_geometry(slide, um_per_px, target_um_per_px, tile_px)
    W, H = slide.level_dimensions[level]
    nx, ny = W // size, H // size
    gx, gy = np.meshgrid(np.arange(nx), np.arange(ny))
    xy = np.stack([gx.ravel() * size, gy.ravel() * size], axis=1).astype(np.int64)

    # Tissue fraction of each tile: average the mask over the tile's footprint on the thumbnail.
    W0, H0 = slide.dimensions
    scale_x, scale_y = mask.shape[1] / W0, mask.shape[0] / H0
    integral = np.pad(mask.astype(np.float64), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    x0 = np.clip(np.floor(xy[:, 0] * d * scale_x).astype(int), 0, mask.shape[1] - 1)
    y0 = np.clip(np.floor(xy[:, 1] * d * scale_y).astype(int), 0, mask.shape[0] - 1)
    x1 = np.clip(np.ceil((xy[:, 0] + size) * d * scale_x).astype(int), x0 + 1, mask.shape[1])
    y1 = np.clip(np.ceil((xy[:, 1] + size) * d * scale_y).astype(int), y0 + 1, mask.shape[0])
    area = (x1 - x0) * (y1 - y0)
    tissue = (integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]) / area
    keep = tissue >= min_tissue
    if not keep.any():
        raise InputError(
            path,
            f"no tile of {tile_px} px at {target_um_per_px} um/px ({tile_px * target_um_per_px:g} um, "
            f"{tile_px * target_um_per_px / um_per_px:.0f} slide px at the slide's {um_per_px:.4g} um/px) has >= "
            f"{min_tissue:.0%} tissue (tissue covers {mask.mean():.1%} of the thumbnail)",
            "check the slide's pixel size first (a wrong um_per_px in the sample sheet makes tiles far larger or "
            "smaller than the tissue); then that the slide shows stained tissue; for sparse tissue lower "
            "tiling.min_tile_tissue in the config",
        )
    return Windows(level, d, size, xy[keep]), tissue[keep]


def share_on_tissue(mask: np.ndarray, downsample: float, xy: np.ndarray) -> float:
    """The share of spot centres (level-0 px) that fall on the tissue mask of the thumbnail."""
    if len(xy) == 0:
        return 0.0
    cols = np.clip((np.asarray(xy)[:, 0] / downsample).astype(int), 0, mask.shape[1] - 1)
    rows = np.clip((np.asarray(xy)[:, 1] / downsample).astype(int), 0, mask.shape[0] - 1)
    return float(mask[rows, cols].mean())
