"""Spot patches: one window per spot, centred on it, at the target pixel size, in HEST layout."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import anndata as ad
import h5py
import numpy as np

from .patches import centred_windows, extract, inside, write_patches_h5
from .plots import tissue_spots_figure
from .slide import open_slide

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PatchParams:
    target_um_per_px: float = 0.5
    patch_px: int = 224


def spot_patches(slide_path, adata: ad.AnnData, params: PatchParams, out_path) -> tuple[int, int]:
    """Write a patch per spot to ``out_path``; spots whose window leaves the slide are dropped.

    Returns (kept, dropped).
    """
    meta = adata.uns["stpath"]
    slide = open_slide(slide_path)
    windows = centred_windows(slide, adata.obsm["spatial"], meta["um_per_px"], params.target_um_per_px, params.patch_px)
    ok = inside(slide, windows)
    dropped = int((~ok).sum())
    if dropped:
        log.warning("%s: %d of %d spots dropped: their %d px window leaves the slide", meta["sample"], dropped, len(ok), params.patch_px)
    kept = windows.subset(ok)
    start = time.perf_counter()
    images = extract(slide, kept, params.patch_px)
    elapsed = time.perf_counter() - start
    log.info("%s: %d patches (level %d, window %d px) in %.2f s (%.0f patches/s)", meta["sample"], len(images),
             kept.level, kept.size, elapsed, len(images) / max(elapsed, 1e-9))
    attrs = {
        "patch_size": params.patch_px,
        "pixel_size": params.target_um_per_px,
        "slide_um_per_px": meta["um_per_px"],
        "level": kept.level,
        "level_downsample": kept.downsample,
        "window_level_px": kept.size,
        "n_dropped": dropped,
        "sample": meta["sample"],
    }
    write_patches_h5(out_path, images, kept.coords_level0, adata.obs_names[ok], attrs)
    slide.close()
    return int(ok.sum()), dropped


def qc_figure(adata_path, tiles_path, patches_path, out_path) -> None:
    adata = ad.read_h5ad(adata_path)
    with h5py.File(tiles_path, "r") as t, h5py.File(patches_path, "r") as p:
        thumb, mask = t["thumbnail"][:], t["tissue_mask"][:]
        down = float(t.attrs["thumbnail_downsample"])
        tile_xy = t["coords"][:]
        tile_side = float(t.attrs["window_level_px"]) * float(t.attrs["level_downsample"])
        kept_barcodes = list(p["barcode"][:, 0].astype(str))
    kept = np.asarray(adata.obs_names.isin(kept_barcodes))
    meta = adata.uns["stpath"]
    title = f"{meta['sample']} (patient {meta['patient']}): {meta['um_per_px']:.3f} um/px from {meta['um_per_px_source']}"
    tissue_spots_figure(out_path, thumb, down, mask, adata.obsm["spatial"], kept, tile_xy, tile_side, title)
