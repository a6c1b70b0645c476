"""Ingest one sample: read its spatial data, check it against its slide, apply spot/gene QC and
return one AnnData with raw counts, spot centres in full-resolution slide pixels and geometry
(written and read by ``ingested``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anndata as ad
import numpy as np
import scanpy as sc

from ..errors import InputError
from ..wsi.slide import UmPerPx, open_slide, resolve_um_per_px, slide_um_per_px
from .ingested import SampleInfo
from .readers import READERS
from .sheet import Sample

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QC:
    min_counts: int = 0  # spots with fewer total counts are removed
    min_genes: int = 0  # spots with fewer detected genes are removed
    min_spots: int = 0  # genes detected in fewer spots are removed

    @classmethod
    def from_config(cls, section: dict) -> "QC":
        return cls(**section)


def ingest(sample: Sample, qc: QC) -> ad.AnnData:
    if sample.format not in READERS:
        raise InputError(None, f"sample {sample.sample}: unknown format {sample.format!r}", f"use one of {sorted(READERS)}")
    table = READERS[sample.format](sample.expression, sample.spots)
    adata = table.adata
    n_input = adata.n_obs

    slide_dims = None
    if sample.slide is not None:
        slide = open_slide(sample.slide)
        slide_dims = slide.dimensions
        um = resolve_um_per_px(sample.slide, slide_um_per_px(slide), sample.um_per_px, table.um_per_px_from_spots)
        _check_spots_inside(adata, slide_dims, sample)
        slide.close()
    else:
        um = resolve_um_per_px(sample.expression, None, sample.um_per_px, table.um_per_px_from_spots) if (
            sample.um_per_px or table.um_per_px_from_spots
        ) else UmPerPx(float("nan"), "unknown (no slide)")
    log.info("%s: %d spots read, pixel size %.4f um/px from %s", sample.sample, n_input, um.value, um.source)

    spot_diameter_px = table.spot_diameter_px
    adata = _apply_qc(adata, qc, sample)
    adata.obs["sample"] = sample.sample
    adata.obs["patient"] = sample.patient
    adata.uns["stpath"] = SampleInfo(
        sample=sample.sample,
        patient=sample.patient,
        format=sample.format,
        slide=str(sample.slide) if sample.slide else "",
        slide_width=int(slide_dims[0]) if slide_dims else 0,
        slide_height=int(slide_dims[1]) if slide_dims else 0,
        um_per_px=float(um.value),
        um_per_px_source=um.source,
        spot_diameter_px=float(spot_diameter_px) if spot_diameter_px else None,
        n_spots_input=int(n_input),
        n_spots_unmatched=int(table.n_dropped_unmatched),
        n_spots_after_qc=int(adata.n_obs),
    ).to_uns()
    return adata


def _check_spots_inside(adata: ad.AnnData, dims: tuple[int, int], sample: Sample) -> None:
    xy = adata.obsm["spatial"]
    W, H = dims
    outside = (xy[:, 0] < 0) | (xy[:, 1] < 0) | (xy[:, 0] >= W) | (xy[:, 1] >= H)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise InputError(
            sample.spots or sample.expression,
            f"{int(outside.sum())} of {len(xy)} spot centres lie outside the slide {sample.slide} ({W} x {H} px), "
            f"e.g. {adata.obs_names[i]} at ({xy[i, 0]:.0f}, {xy[i, 1]:.0f})",
            "give spot coordinates in full-resolution pixels of this very slide (for Visium, the image given to "
            "Space Ranger), or pair the sample with its own slide",
        )


def _apply_qc(adata: ad.AnnData, qc: QC, sample: Sample) -> ad.AnnData:
    n_spots, n_genes = adata.n_obs, adata.n_vars
    if qc.min_counts:
        sc.pp.filter_cells(adata, min_counts=qc.min_counts)
    if qc.min_genes:
        sc.pp.filter_cells(adata, min_genes=qc.min_genes)
    if qc.min_spots:
        sc.pp.filter_genes(adata, min_cells=qc.min_spots)
    log.info(
        "%s: QC kept %d/%d spots and %d/%d genes", sample.sample, adata.n_obs, n_spots, adata.n_vars, n_genes
    )
    if adata.n_obs == 0:
        raise InputError(sample.expression, "QC removed every spot", "lower qc.min_counts / qc.min_genes in the config")
    adata.obs = adata.obs.drop(columns=["n_counts", "n_genes"], errors="ignore")
    adata.var = adata.var.drop(columns=["n_cells"], errors="ignore")
    adata.obs["total_counts"] = np.asarray(adata.X.sum(axis=1)).ravel()
    return adata

