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
from ..wsi.slide import open_slide
from .geometry import UmPerPx
from .ingested import SampleInfo, qc_passing, set_array_flags, set_qc_pass
from .preflight import MAX_UPSAMPLING, PIXEL_SIZE_TOLERANCE, CutLimits, check_sample
from .readers import MIN_MATCHED_SPOTS, read_spots
from .sheet import Sample

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QC:
    min_counts: int = 0  # spots with fewer total counts are removed
    min_genes: int = 0  # spots with fewer detected genes are removed
    min_spots: int = 0  # genes detected in fewer spots are removed
    min_matched_spots: float = MIN_MATCHED_SPOTS  # share of counted spots that must have a position
    pixel_size_tolerance: float = PIXEL_SIZE_TOLERANCE  # relative disagreement allowed between pixel-size sources
    max_upsampling: float = MAX_UPSAMPLING  # most a slide may be upsampled to cut tiles and patches

    @classmethod
    def from_config(cls, section: dict) -> "QC":
        return cls(**section)


def ingest(sample: Sample, qc: QC, finest_um: float = 0.5) -> ad.AnnData:
    """One sample's spots, counts and pixel size after the pre-flight (``finest_um``: the finer of
    the tiles' and patches' target pixel size, for the scale check) and spot QC."""
    checked = check_sample(sample, qc.pixel_size_tolerance, CutLimits(finest_um, qc.max_upsampling))
    if checked.positions is None:
        return _ingest_image_only(sample, checked)
    positions = checked.positions
    table = read_spots(sample.format, sample.expression, sample.spots, qc.min_matched_spots, positions)
    adata = table.adata
    n_input = adata.n_obs
    if positions.in_tissue is not None:
        set_array_flags(adata, positions.xy, positions.in_tissue)
    if sample.slide is not None:
        open_slide(sample.slide).close()  # decodes a level: a truncated file fails here, not in a later job
    um = checked.um_per_px or UmPerPx(float("nan"), "unknown (no slide)")
    log.info("%s: %d spots read, pixel size %.4f um/px from %s", sample.sample, n_input, um.value, um.source)

    adata = _apply_qc(adata, qc, sample)
    adata.obs["sample"] = sample.sample
    adata.obs["patient"] = sample.patient
    dims = checked.slide_dims
    adata.uns["stpath"] = SampleInfo(
        sample=sample.sample,
        patient=sample.patient,
        format=sample.format,
        slide=str(sample.slide) if sample.slide else "",
        slide_width=int(dims[0]) if dims else 0,
        slide_height=int(dims[1]) if dims else 0,
        um_per_px=float(um.value),
        um_per_px_source=um.source,
        spot_diameter_px=positions.spot_diameter_px,
        n_spots_input=int(n_input),
        n_spots_unmatched=int(table.n_dropped_unmatched),
        n_spots_after_qc=int(qc_passing(adata).sum()),
    ).to_uns()
    return adata


def _ingest_image_only(sample: Sample, checked) -> ad.AnnData:
    """No spots: an AnnData of 0 spots that carries what later steps need (slide, pixel size)."""
    open_slide(sample.slide).close()
    um = checked.um_per_px
    log.info("%s: image only, pixel size %.4f um/px from %s", sample.sample, um.value, um.source)
    adata = ad.AnnData(np.zeros((0, 0), np.float32))
    adata.obsm["spatial"] = np.zeros((0, 2))
    adata.uns["stpath"] = SampleInfo(
        sample=sample.sample,
        patient=sample.patient,
        format=sample.format,
        slide=str(sample.slide),
        slide_width=int(checked.slide_dims[0]),
        slide_height=int(checked.slide_dims[1]),
        um_per_px=float(um.value),
        um_per_px_source=um.source,
        spot_diameter_px=None,
        n_spots_input=0,
        n_spots_unmatched=0,
        n_spots_after_qc=0,
    ).to_uns()
    return adata


def _apply_qc(adata: ad.AnnData, qc: QC, sample: Sample) -> ad.AnnData:
    """Spot QC marks, gene QC removes: a spot below ``min_counts`` or ``min_genes`` stays, marked
    ``qc_pass`` False (models never train on it; a held-out section is scored on every spot, as
    the releases do); a gene detected in fewer than ``min_spots`` passing spots is removed."""
    n_spots, n_genes = adata.n_obs, adata.n_vars
    passing = np.ones(n_spots, bool)
    if qc.min_counts:
        passing &= sc.pp.filter_cells(adata, min_counts=qc.min_counts, inplace=False)[0]
    if qc.min_genes:
        passing &= sc.pp.filter_cells(adata, min_genes=qc.min_genes, inplace=False)[0]
    if not passing.any():
        raise InputError(
            sample.expression,
            f"QC removed every one of the {n_spots} spots",
            "lower qc.min_counts / qc.min_genes in the config",
        )
    if qc.min_spots:
        genes = sc.pp.filter_genes(adata[passing], min_cells=qc.min_spots, inplace=False)[0]
        adata = adata[:, genes].copy()
    log.info(
        "%s: QC passed %d/%d spots (the others are scored, never trained on) and kept %d/%d genes",
        sample.sample,
        int(passing.sum()),
        n_spots,
        adata.n_vars,
        n_genes,
    )
    if adata.n_vars == 0:
        few = int(passing.sum()) < qc.min_spots
        raise InputError(
            sample.expression,
            f"QC removed every one of the {n_genes} genes"
            + (
                f": only {int(passing.sum())} spot(s) pass spot QC, fewer than the {qc.min_spots} a gene must be detected in (qc.min_spots)"
                if few
                else f" (none is detected in {qc.min_spots} of the {int(passing.sum())} spots that pass spot QC)"
            ),
            "give the whole section's spots (not a subset)" if few else "lower qc.min_spots in the config",
        )
    set_qc_pass(adata, passing)
    adata.obs["total_counts"] = np.asarray(adata.X.sum(axis=1)).ravel()
    return adata
