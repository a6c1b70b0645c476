"""Spots of a set of slides held in memory: patches (uint8, read once from the HDF5 files) and
normalised expression over a fixed gene list, aligned by barcode."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import scipy.sparse as sp
import torch

from ..errors import InputError

log = logging.getLogger(__name__)


@dataclass
class SpotSet:
    images: torch.Tensor  # [N, H, W, 3] uint8, on the CPU (pinned when a GPU will read it)
    expression: torch.Tensor  # [N, G] float32, normalize_total + log1p
    sample: np.ndarray  # [N] sample of each spot
    barcode: np.ndarray  # [N]
    genes: list[str]

    def __len__(self) -> int:
        return len(self.sample)

    def subset(self, idx) -> SpotSet:
        idx = np.asarray(idx)
        t = torch.as_tensor(idx)
        return SpotSet(self.images[t], self.expression[t], self.sample[idx], self.barcode[idx], self.genes)


def load_spots(samples: list[str], patch_paths: list[Path], expression_paths: list[Path], genes: list[str], pin: bool = False) -> SpotSet:
    images, expression, sample_of, barcodes = [], [], [], []
    for name, patches, expr in zip(samples, patch_paths, expression_paths):
        with h5py.File(patches, "r") as f:
            img = f["img"][:]
            codes = f["barcode"][:, 0].astype(str)
        adata = ad.read_h5ad(expr)
        missing = [g for g in genes if g not in adata.var_names]
        if missing:
            raise InputError(expr, f"{len(missing)} training genes are missing, e.g. {missing[:3]}", "rebuild the gene sets (rule gene_sets) for this dataset")
        keep = np.isin(codes, adata.obs_names)
        if not keep.all():
            log.info("%s: %d patches have no expression after QC and are skipped", name, int((~keep).sum()))
        img, codes = img[keep], codes[keep]
        x = adata[codes, genes].X
        expression.append(np.asarray(x.toarray() if sp.issparse(x) else x, dtype=np.float32))
        images.append(img)
        sample_of.append(np.full(len(codes), name, dtype=object))
        barcodes.append(codes)
    images_t = torch.from_numpy(np.concatenate(images))
    if pin:
        images_t = images_t.pin_memory()
    out = SpotSet(images_t, torch.from_numpy(np.concatenate(expression)), np.concatenate(sample_of), np.concatenate(barcodes), list(genes))
    log.info("%d spots from %d slides in memory: images %.0f MB, %d genes", len(out), len(samples), images_t.numel() / 2**20, len(genes))
    return out


def split_validation(sample_of: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of each training slide's spots into train (1 - fraction) and validation."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for s in np.unique(sample_of):
        idx = rng.permutation(np.flatnonzero(sample_of == s))
        n_val = int(round(len(idx) * fraction))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def read_expression(path: Path, genes: list[str]) -> np.ndarray:
    """All spots of one normalised expression file over ``genes``, dense float32."""
    x = ad.read_h5ad(path)[:, genes].X
    return np.asarray(x.toarray() if sp.issparse(x) else x, dtype=np.float32)
