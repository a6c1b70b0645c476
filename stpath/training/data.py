"""Spots of a set of slides held in memory: patches (uint8, read once from the HDF5 files),
normalised expression over a fixed gene list and, for the cell-type models, per-spot labels,
aligned by barcode."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import anndata as ad
import numpy as np
import scanpy as sc
import scipy.sparse as sp
import torch

from ..errors import InputError
from ..ingest.ingested import qc_passing
from ..wsi.patches import read_patch_barcodes, read_patch_images

log = logging.getLogger(__name__)


@dataclass
class SpotSet:
    images: torch.Tensor  # [N, H, W, 3] uint8, on the CPU (pinned when a GPU will read it)
    expression: torch.Tensor  # [N, G] float32, normalize_total + log1p
    sample: np.ndarray  # [N] sample of each spot
    barcode: np.ndarray  # [N]
    genes: list[str]
    labels: torch.Tensor | None = None  # [N, K] float32 (cell-type abundances), or None
    label_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sample)

    def subset(self, keep: np.ndarray) -> "SpotSet":
        rows = torch.from_numpy(np.flatnonzero(keep))
        labels = None if self.labels is None else self.labels[rows]
        return replace(
            self,
            images=self.images[rows],
            expression=self.expression[rows],
            sample=self.sample[keep],
            barcode=self.barcode[keep],
            labels=labels,
        )


def _patch_barcodes(name: str, patches: Path, adata: ad.AnnData, qc_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """The patch barcodes, and the mask of those whose spot has expression (and, with
    ``qc_only``, passes spot QC: the spots a model trains on or retrieves from)."""
    codes = read_patch_barcodes(patches)
    keep = np.isin(codes, adata.obs_names)
    if not keep.all():
        log.info("%s: %d patches have no expression and are skipped", name, int((~keep).sum()))
    if qc_only:
        passing = np.isin(codes, adata.obs_names[qc_passing(adata)])
        if (keep & ~passing).any():
            log.info("%s: %d spots fail spot QC and are left out of training", name, int((keep & ~passing).sum()))
        keep &= passing
    return keep, codes


def renormalised(adata: ad.AnnData, target_sum: float) -> ad.AnnData:
    """A normalised expression file's spots again from their raw counts (``layers["counts"]``):
    each spot's counts over all genes scaled to ``target_sum``, then log1p."""
    out = ad.AnnData(adata.layers["counts"].astype(np.float32), obs=adata.obs[[]], var=adata.var[[]])
    sc.pp.normalize_total(out, target_sum=target_sum)
    sc.pp.log1p(out)
    return out


def _expression_of(
    adata: ad.AnnData, codes, genes: list[str], path: Path, target_sum: float | None = None
) -> np.ndarray:
    missing = [g for g in genes if g not in adata.var_names]
    if missing:
        raise InputError(
            path,
            f"{len(missing)} training genes are missing, e.g. {missing[:3]}",
            "rebuild the gene sets (rule gene_sets) for this dataset",
        )
    if target_sum is not None:
        adata = renormalised(adata, target_sum)
    x = adata[codes, genes].X
    return np.asarray(x.toarray() if sp.issparse(x) else x, dtype=np.float32)


def load_expression(
    samples: list[str], patch_paths: list[Path], expression_paths: list[Path], genes: list[str]
) -> tuple[torch.Tensor, np.ndarray]:
    """Expression of the spots that have a patch and pass spot QC, in patch order, without reading
    the images (the retrieval keys); and the sample of each spot."""
    expression, sample_of = [], []
    for name, patches, expr in zip(samples, patch_paths, expression_paths):
        adata = ad.read_h5ad(expr)
        keep, codes = _patch_barcodes(name, patches, adata, qc_only=True)
        expression.append(_expression_of(adata, codes[keep], genes, expr))
        sample_of.append(np.full(int(keep.sum()), name, dtype=object))
    return torch.from_numpy(np.concatenate(expression)), np.concatenate(sample_of)


def load_spots(
    samples: list[str],
    patch_paths: list[Path],
    expression_paths: list[Path],
    genes: list[str],
    pin: bool = False,
    target_sum: float | None = None,
    scored: bool = False,
) -> SpotSet:
    """The spots that have a patch: images, expression over ``genes`` (the files' normalisation, or
    their raw counts scaled to ``target_sum`` then log1p), slide and barcode of each. Spots that
    fail spot QC are left out unless ``scored`` (held-out sections are scored on every spot)."""
    images, expression, sample_of, barcodes = [], [], [], []
    for name, patches, expr in zip(samples, patch_paths, expression_paths):
        adata = ad.read_h5ad(expr)
        keep, codes = _patch_barcodes(name, patches, adata, qc_only=not scored)
        images.append(read_patch_images(patches, keep))
        expression.append(_expression_of(adata, codes[keep], genes, expr, target_sum))
        sample_of.append(np.full(int(keep.sum()), name, dtype=object))
        barcodes.append(codes[keep])
    images_t = torch.from_numpy(np.concatenate(images))
    if pin:
        images_t = images_t.pin_memory()
    out = SpotSet(
        images_t,
        torch.from_numpy(np.concatenate(expression)),
        np.concatenate(sample_of),
        np.concatenate(barcodes),
        list(genes),
    )
    log.info(
        "%d spots from %d slides in memory: images %.0f MB, %d genes",
        len(out),
        len(samples),
        images_t.numel() / 2**20,
        len(genes),
    )
    return out


def split_validation(
    sample_of: np.ndarray, fraction: float, seed: int, val_samples=()
) -> tuple[np.ndarray, np.ndarray]:
    """Spot indices to train on and to select on: every spot of ``val_samples`` (the validation
    patients' slides) when given, else a seeded random split of each training slide's spots into
    train (1 - fraction) and validation."""
    if len(val_samples):
        val = np.isin(sample_of, list(val_samples))
        if not val.any() or val.all():
            raise ValueError(
                f"validation slides {list(val_samples)} must be some, not none or all, of the training data's slides"
            )
        return np.flatnonzero(~val), np.flatnonzero(val)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for s in np.unique(sample_of):
        idx = rng.permutation(np.flatnonzero(sample_of == s))
        n_val = int(round(len(idx) * fraction))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    train, val = np.sort(np.concatenate(train)), np.sort(np.concatenate(val))
    if not len(val) or not len(train):
        raise ValueError(
            f"a {fraction:g} in-slide validation split of {len(sample_of)} spots on {len(np.unique(sample_of))} "
            f"slide(s) leaves {'no validation' if not len(val) else 'no training'} spot: sections this small "
            "cannot train a model (give the whole sections, or validation patients: folds.n_val_patients)"
        )
    return train, val
