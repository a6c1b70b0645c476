"""The ingested sample (``ingest/{sample}.h5ad``): raw counts of every spot, spot centres in level-0
slide pixels (``obsm["spatial"]``), which spots pass spot QC (``obs["qc_pass"]``), for Visium the
whole array's in_tissue flags (``uns["visium_array"]``) and what ingest learnt (``uns["stpath"]``, a ``SampleInfo``), which
every later per-sample AnnData carries on (normalised expression, deconvolution output).

Owner of that layout: ``write_ingested`` writes it; ``read_sample_info``, ``read_spatial``,
``qc_passing`` and ``read_array_flags`` read it from any of those files. Light: anndata and numpy only."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import anndata as ad
import numpy as np

from ..atomic import atomic_path

PHYSICAL_SPOT_UM = {"legacy_st": 100.0, "visium": 55.0}


@dataclass(frozen=True)
class SampleInfo:
    """What ingest learnt about a sample (``uns["stpath"]``)."""

    sample: str
    patient: str
    format: str
    slide: str  # "" without a slide
    slide_width: int
    slide_height: int
    um_per_px: float
    um_per_px_source: str
    spot_diameter_px: float | None  # full-resolution pixels, when the format stores it
    n_spots_input: int
    n_spots_unmatched: int
    n_spots_after_qc: int  # spots that pass spot QC (``qc_pass``); every spot is kept

    @property
    def physical_spot_px(self) -> float | None:
        """A spot's physical diameter in level-0 pixels, as maps draw it: legacy ST 100 um, Visium
        55 um (its stored spot_diameter_fullres spans a theoretical 65 um), else what the format
        stored (None: unknown)."""
        um = PHYSICAL_SPOT_UM.get(self.format)
        if um and self.um_per_px:
            return um / self.um_per_px
        return self.spot_diameter_px

    def describe(self) -> str:
        return f"{self.sample} (patient {self.patient}): {self.um_per_px:.3f} um/px from {self.um_per_px_source}"

    def to_uns(self) -> dict:
        # h5ad has no None: an unknown diameter is stored as NaN
        return asdict(self) | {"spot_diameter_px": self.spot_diameter_px or float("nan")}


def read_sample_info(source: str | ad.AnnData) -> SampleInfo:
    """The ingest metadata of an ingested, normalised or deconvolved sample (path or AnnData)."""
    uns = (ad.read_h5ad(source, backed="r") if not isinstance(source, ad.AnnData) else source).uns["stpath"]
    info = {k: (v.item() if hasattr(v, "item") else v) for k, v in uns.items()}
    diameter = info.get("spot_diameter_px")
    info["spot_diameter_px"] = (
        float(diameter) if diameter is not None and math.isfinite(diameter) and diameter > 0 else None
    )
    return SampleInfo(**info)


QC_PASS = "qc_pass"


def set_qc_pass(adata: ad.AnnData, passing: np.ndarray) -> None:
    """Mark each spot as passing spot QC or not (``obs["qc_pass"]``); failing spots stay in every
    per-sample file: models never train on them, held-out sections are scored on them."""
    adata.obs[QC_PASS] = np.asarray(passing, bool)


def qc_passing(adata: ad.AnnData) -> np.ndarray:
    """Which spots pass spot QC (all, in a file written before spots were marked)."""
    if QC_PASS not in adata.obs:
        return np.ones(adata.n_obs, bool)
    return adata.obs[QC_PASS].to_numpy(bool)


ARRAY_KEY = "visium_array"


def set_array_flags(adata: ad.AnnData, xy: np.ndarray, in_tissue: np.ndarray) -> None:
    """Keep a Visium run's whole array: every position (level-0 px) and Space Ranger's in_tissue
    flag, for the slide's patch job to compare with the tissue it detects."""
    adata.uns[ARRAY_KEY] = {"xy": np.asarray(xy, np.float64), "in_tissue": np.asarray(in_tissue, np.uint8)}


def read_array_flags(adata: ad.AnnData) -> tuple[np.ndarray, np.ndarray] | None:
    """(positions, in_tissue as bool) of the whole Visium array; None for other formats."""
    array = adata.uns.get(ARRAY_KEY)
    if array is None:
        return None
    return np.asarray(array["xy"], np.float64), np.asarray(array["in_tissue"]).astype(bool)


def write_ingested(adata: ad.AnnData, path) -> None:
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)


def read_spatial(path, barcodes) -> np.ndarray:
    """Spot centres (level-0 slide pixels) of ``barcodes`` from any per-sample AnnData of the
    pipeline (ingested, normalised, deconvolved)."""
    return np.asarray(ad.read_h5ad(path)[list(barcodes)].obsm["spatial"])
