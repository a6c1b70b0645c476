"""Tissue detection on a slide thumbnail and the whole-slide tile grid at a target pixel size.

The glass colour is estimated from the slide itself (the median of its brightest fifth), so a tinted
or yellowed slide's glass counts as background. Each pixel's optical density (OD) is measured against
that colour and summed over the channels; tissue is where the OD, averaged over a window of
``texture_um``, is above ``min_od`` and varies within the window by more than ``min_texture``
(stained structure: nuclei, fibres, membranes). Smooth stain smears and glass tint have OD but no
texture; scanner noise has neither. The textured pixels are closed over ``closing_um`` (adipocytes,
tears and gaps between fibres), trimmed back by a quarter window, cleaned of islands and holes at the
µm scales of :class:`TissueSettings`. Black pixels (borders, dark pen) never count. Everything is
measured in µm, so the thumbnail's size only sets the precision."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import openslide
from scipy import ndimage as ndi
from skimage import morphology

from ..errors import InputError
from .scale import ImageScale
from .windows import Windows, window_geometry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TissueSettings:
    thumbnail_px: int = 2048  # longer side of the thumbnail the mask is computed on
    min_region_um2: float = 50_000.0  # tissue islands smaller than this are removed
    max_hole_um2: float = 20_000.0  # holes smaller than this are filled
    min_od: float = 0.03  # summed optical density over the glass colour, averaged over the window
    min_texture: float = 0.05  # standard deviation of that density within the window
    texture_um: float = 20.0  # side of the window
    closing_um: float = 60.0  # gaps narrower than this inside tissue are closed (fat, tears)
    warn_spots_on_tissue: float = 0.9  # below this share of spot centres on tissue the run warns
    min_spots_on_tissue: float = 0.5  # below this share the slide's patch job refuses the sample
    warn_array_mismatch: float = 0.02  # Visium: share of in_tissue flags the tissue contradicts, to warn
    max_array_mismatch: float = 0.05  # and to refuse the sample

    @classmethod
    def from_config(cls, section: dict) -> "TissueSettings":
        return cls(**section)


BLACK = 25  # a pixel whose brightest channel is below this (of 255) is a border, pen or shadow


def glass_colour(rgb: np.ndarray) -> np.ndarray:
    """The slide's background colour: the per-channel median of its brightest fifth of pixels (the
    glass, on every slide with glass in view; on a field of tissue, the palest tissue)."""
    lum = rgb.mean(-1)
    return np.median(rgb[lum >= np.percentile(lum, 80)], axis=0)


def optical_density(rgb: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Per-pixel optical density summed over RGB, relative to ``background`` (0 where brighter)."""
    return np.clip(np.log((background + 1.0) / (rgb + 1.0)), 0.0, None).sum(-1)


def _grow(mask: np.ndarray, radius: float) -> np.ndarray:
    return ndi.distance_transform_edt(~mask) <= radius


def _shrink(mask: np.ndarray, radius: float) -> np.ndarray:
    return ndi.distance_transform_edt(mask) > radius


def tissue_mask(thumb: np.ndarray, um_per_thumb_px: float, params: TissueSettings) -> np.ndarray:
    """Boolean tissue mask of an RGB thumbnail whose pixels measure ``um_per_thumb_px``."""
    rgb = thumb[..., :3].astype(np.float32)
    od = optical_density(rgb, glass_colour(rgb))
    window = max(int(round(params.texture_um / um_per_thumb_px)), 3)
    mean = ndi.uniform_filter(od, window)
    spread = np.sqrt(np.clip(ndi.uniform_filter(od * od, window) - mean * mean, 0.0, None))
    mask = (mean > params.min_od) & (spread > params.min_texture) & (rgb.max(-1) >= BLACK)
    if not mask.any():
        return mask
    radius = params.closing_um / 2 / um_per_thumb_px
    mask = _shrink(_grow(mask, radius), radius + window / 4)  # closing, then the window's spread trimmed
    px_area = um_per_thumb_px**2
    mask = morphology.remove_small_objects(mask, max_size=max(int(params.min_region_um2 / px_area), 1))
    mask = morphology.remove_small_holes(mask, max_size=max(int(params.max_hole_um2 / px_area), 1))
    return mask


def tile_grid(
    slide: openslide.AbstractSlide,
    mask: np.ndarray,
    um_per_px: float,
    scale: ImageScale,
    min_tissue: float,
    path=None,
) -> tuple[Windows, np.ndarray]:
    """Non-overlapping tiles at ``scale`` covering the slide (``um_per_px``: the slide's); keeps those
    whose tissue fraction >= ``min_tissue``."""
    level, d, size = window_geometry(slide, um_per_px, scale)
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
            f"no tile of {scale.px} px at {scale.um_per_px:g} um/px ({scale.field_um:g} um, "
            f"{scale.field_um / um_per_px:.0f} slide px at the slide's {um_per_px:.4g} um/px) has >= "
            f"{min_tissue:.0%} tissue (tissue covers {mask.mean():.1%} of the thumbnail)",
            "check the slide's pixel size first (a wrong um_per_px in the sample sheet makes tiles far larger or "
            "smaller than the tissue); then that the slide shows stained tissue; for sparse tissue lower "
            "tiling.min_tile_tissue in the config",
        )
    return Windows(level, d, size, xy[keep]), tissue[keep]


def mask_pixels(mask: np.ndarray, downsample: float, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the thumbnail pixels under level-0 points ``xy``, clipped to the mask."""
    xy = np.asarray(xy)
    cols = np.clip((xy[:, 0] / downsample).astype(int), 0, mask.shape[1] - 1)
    rows = np.clip((xy[:, 1] / downsample).astype(int), 0, mask.shape[0] - 1)
    return rows, cols


def share_on_tissue(mask: np.ndarray, downsample: float, xy: np.ndarray) -> float:
    """The share of spot centres (level-0 px) that fall on the tissue mask of the thumbnail."""
    if len(xy) == 0:
        return 0.0
    return float(mask[mask_pixels(mask, downsample, xy)].mean())


ARRAY_MARGIN_UM = 100.0  # one Visium spot pitch: outlines drawn on two images differ by up to a spot


def array_mismatch(
    mask: np.ndarray, downsample: float, um_per_px: float, xy: np.ndarray, in_tissue: np.ndarray
) -> float:
    """The share of a Visium array's spots whose Space Ranger flag the detected tissue clearly
    contradicts: flagged spots more than a spot pitch (``ARRAY_MARGIN_UM``) off the mask, and
    unflagged ones more than a pitch inside it, over the spots under tissue by either account.
    ``xy`` in level-0 px; the mask's pixels measure ``downsample`` of them."""
    um = um_per_px * downsample
    inside = ndi.distance_transform_edt(mask) * um > ARRAY_MARGIN_UM
    outside = ndi.distance_transform_edt(~mask) * um > ARRAY_MARGIN_UM
    finite = np.isfinite(xy).all(axis=1)
    xy, flags = np.asarray(xy)[finite], np.asarray(in_tissue, bool)[finite]
    at = mask_pixels(mask, downsample, xy)
    wrong = (flags & outside[at]) | (~flags & inside[at])
    tissue = flags | mask[at]
    return float(wrong.sum() / max(int(tissue.sum()), 1))


def check_array_agreement(mismatch: float, params: TissueSettings, sample: str, path) -> None:
    """Refuse a Visium sample whose in_tissue flags draw another tissue than its slide's (the
    spatial folder of another section or capture area), warn above ``warn_array_mismatch``."""
    said = (
        f"{sample}: the detected tissue contradicts Space Ranger's in_tissue flags at {100 * mismatch:.1f}% of the "
        "spots under tissue (by either; a spot pitch from the outline ignored)"
    )
    if mismatch > params.max_array_mismatch:
        raise InputError(
            path,
            f"{said} (tissue.max_array_mismatch: {100 * params.max_array_mismatch:.0f}%)",
            "pair the sample with the slide and the spatial/ folder of its own Space Ranger run; if the slide's QC figure "
            "shows the flags were edited on purpose (regions excluded in Loupe), raise tissue.max_array_mismatch",
        )
    if mismatch > params.warn_array_mismatch:
        log.warning(
            "%s (tissue.warn_array_mismatch: %.0f%%): check that slide, matrix and spatial/ folder come from one "
            "Space Ranger run (see the slide's QC figure)",
            said,
            100 * params.warn_array_mismatch,
        )


def check_spots_on_tissue(share: float, params: TissueSettings, sample: str, path) -> None:
    """Refuse a sample whose spots mostly miss the detected tissue (coordinates of another frame,
    scale or section), and warn below ``warn_spots_on_tissue`` (matched slides give >= 0.98)."""
    said = f"{sample}: only {100 * share:.0f}% of the spots lie on the detected tissue"
    if share < params.min_spots_on_tissue:
        raise InputError(
            path,
            f"{said} (tissue.min_spots_on_tissue: {100 * params.min_spots_on_tissue:.0f}%)",
            "give spot coordinates in full-resolution pixels of this very slide (not of a low-resolution image; for Visium, "
            "the image given to Space Ranger), and pair the sample with its own slide; if the QC figure shows tissue the "
            "mask misses, lower tissue.min_spots_on_tissue",
        )
    if share < params.warn_spots_on_tissue:
        log.warning(
            "%s (tissue.warn_spots_on_tissue: %.0f%%): check that the spot coordinates are full-resolution pixels "
            "of this slide (see the slide's QC figure)",
            said,
            100 * params.warn_spots_on_tissue,
        )
