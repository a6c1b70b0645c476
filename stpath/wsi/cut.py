"""Cut a slide once into the two files the models read: every tissue tile of the whole-slide
grid (``tile_slide`` -> tiles.h5) and one patch per spot, centred on it (``spot_patches`` ->
patches.h5), both at a target pixel size."""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .patches import patch_scale_attrs, write_patches_h5
from .scale import ImageScale
from .slide import open_slide, thumbnail
from .stain import StainFit, StainMap, StainNormalisation, fit_stain
from .tiles import write_tiles
from .tissue import TissueSettings, tile_grid, tissue_mask
from .windows import centred_windows, extract, inside

log = logging.getLogger(__name__)

MAX_DROPPED_SHARE = 0.5  # a sample loses at most this share of its spots to windows leaving the slide


@dataclass(frozen=True)
class TilingSettings:
    scale: ImageScale = ImageScale()
    min_tile_tissue: float = 0.5  # a tile is kept when this fraction of it is tissue

    @classmethod
    def from_config(cls, section: dict) -> "TilingSettings":
        """From the config's ``tiling`` section; ``scale`` (a dict) cuts at another scale."""
        return cls(ImageScale.from_config(section), section["min_tile_tissue"])


def _tissue_tiles(slide, slide_path, um_per_px: float, tissue: TissueSettings, tiling: TilingSettings):
    """The slide's thumbnail, its downsample, the tissue mask, and the tissue tiles' windows with
    their tissue fractions."""
    thumb, down = thumbnail(slide, tissue.thumbnail_px)
    mask = tissue_mask(thumb, um_per_px * down, tissue)
    if not mask.any():
        raise InputError(
            slide_path,
            "no tissue detected on the slide thumbnail (the image looks empty or unstained)",
            "check that this is the H&E slide of the sample; for very faint stains lower tissue.min_od and tissue.min_texture, "
            "for small fragments tissue.min_region_um2",
        )
    windows, fraction = tile_grid(slide, mask, um_per_px, tiling.scale, tiling.min_tile_tissue, slide_path)
    return thumb, down, mask, windows, fraction


def fit_slide_stain(
    slide_path, um_per_px: float, tissue: TissueSettings, tiling: TilingSettings, norm: StainNormalisation, sample: str
) -> StainFit:
    """The slide's stain, fitted on a seeded sample of ``norm.fit_tiles`` of its tissue tiles."""
    slide = open_slide(slide_path)
    _, _, _, windows, _ = _tissue_tiles(slide, slide_path, um_per_px, tissue, tiling)
    n = len(windows.xy)
    rng = np.random.default_rng([norm.seed, zlib.crc32(sample.encode())])
    pick = np.sort(rng.choice(n, size=min(norm.fit_tiles, n), replace=False))
    images = extract(slide, windows.subset(pick), tiling.scale.px, progress=False)
    slide.close()
    fit = fit_stain(images, norm.method, sample)
    log.info(
        "%s: %s of %d tissue tiles: %s",
        sample,
        norm.method,
        len(pick),
        {k: v for k, v in vars(fit).items() if isinstance(v, tuple) and v},
    )
    return fit


def tile_slide(
    slide_path,
    um_per_px: float,
    tissue: TissueSettings,
    tiling: TilingSettings,
    out_path,
    stain: StainMap | None = None,
) -> int:
    """Detect tissue and write every tissue tile to the tile file ``out_path``, mapped to the
    target stain by ``stain`` when given; returns the number of tiles."""
    slide = open_slide(slide_path)
    thumb, down, mask, windows, fraction = _tissue_tiles(slide, slide_path, um_per_px, tissue, tiling)
    n = len(windows.xy)
    log.info(
        "%s: tissue covers %.1f%% of the slide; %d tiles of %d px at %.3f um/px (level %d, %d px)",
        Path(slide_path).name,
        100 * mask.mean(),
        n,
        tiling.scale.px,
        tiling.scale.um_per_px,
        windows.level,
        windows.size,
    )
    attrs = {
        "slide": str(slide_path),
        "slide_um_per_px": um_per_px,
        **tiling.scale.as_dict(),
        "level": windows.level,
        "level_downsample": windows.downsample,
        "window_level_px": windows.size,
        "thumbnail_downsample": down,
        "slide_width": slide.dimensions[0],
        "slide_height": slide.dimensions[1],
        "stain_normalisation": stain.describe() if stain else "none",
    }
    start = time.perf_counter()
    with write_tiles(out_path, windows.coords_level0, tiling.scale.px, fraction, thumb, mask, attrs) as sink:
        extract(slide, windows, tiling.scale.px, sink=(lambda idx, images: sink(idx, stain(images))) if stain else sink)
    elapsed = time.perf_counter() - start
    log.info("wrote %d tiles in %.1f s (%.0f tiles/s)", n, elapsed, n / max(elapsed, 1e-9))
    slide.close()
    return n


def spot_patches(
    slide_path,
    centres: np.ndarray,
    barcodes,
    um_per_px: float,
    sample: str,
    scale: ImageScale,
    out_path,
    stain: StainMap | None = None,
) -> tuple[int, int]:
    """Write a patch per spot (``centres`` in level-0 pixels) at ``scale`` to ``out_path``, mapped to
    the target stain by ``stain`` when given; spots whose window leaves the slide are dropped.
    Returns (kept, dropped)."""
    slide = open_slide(slide_path)
    windows = centred_windows(slide, centres, um_per_px, scale)
    ok = inside(slide, windows)
    dropped = int((~ok).sum())
    if dropped > MAX_DROPPED_SHARE * len(ok) or not ok.any():
        field_um = scale.field_um
        raise InputError(
            slide_path,
            f"{sample}: the {field_um:g} um window ({field_um / um_per_px:.0f} slide px at {um_per_px:.4g} um/px) of "
            f"{dropped} of {len(ok)} spots leaves the slide ({slide.dimensions[0]} x {slide.dimensions[1]} px)",
            "check the sample's pixel size (the um_per_px column of the sample sheet, or the slide's metadata): a "
            "value far too small makes every window larger than the slide; and that the spots belong to this slide",
        )
    if dropped:
        log.warning(
            "%s: %d of %d spots dropped: their %d px window leaves the slide", sample, dropped, len(ok), scale.px
        )
    kept = windows.subset(ok)
    start = time.perf_counter()
    images = extract(slide, kept, scale.px)
    if stain:
        images = stain(images)
    elapsed = time.perf_counter() - start
    log.info(
        "%s: %d patches (level %d, window %d px) in %.2f s (%.0f patches/s)",
        sample,
        len(images),
        kept.level,
        kept.size,
        elapsed,
        len(images) / max(elapsed, 1e-9),
    )
    attrs = {
        **patch_scale_attrs(scale),
        "slide_um_per_px": um_per_px,
        "level": kept.level,
        "level_downsample": kept.downsample,
        "window_level_px": kept.size,
        "n_dropped": dropped,
        "sample": sample,
        "stain_normalisation": stain.describe() if stain else "none",
    }
    write_patches_h5(out_path, images, kept.coords_level0, np.asarray(barcodes)[ok], attrs)
    slide.close()
    return int(ok.sum()), dropped
