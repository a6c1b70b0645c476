"""Whole-slide inference: the trained model applied to every tissue tile of the tile grid, read
from the tile HDF5 in chunks (a slide's tiles need not fit in memory)."""

from __future__ import annotations

import logging
import time

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..training.augment import to_model_input

log = logging.getLogger(__name__)


@torch.no_grad()
def predict_tiles(model: nn.Module, tiles_path, cell_types: list[str], device: torch.device, input_px: int, chunk: int = 512) -> ad.AnnData:
    """Abundances of every tile (``X``), tile centres in level-0 pixels (``obsm['spatial']``),
    the tile geometry in ``uns``. Tiles are resized to ``input_px`` when the model was trained on
    patches of another pixel count (same field of view, checked by the workflow)."""
    autocast = device.type == "cuda"
    with h5py.File(tiles_path, "r") as f:
        n, attrs = len(f["coords"]), dict(f.attrs)
        coords = f["coords"][:]
        out = np.zeros((n, len(cell_types)), np.float32)
        tick = time.perf_counter()
        for i in tqdm(range(0, n, chunk), desc="tiles", unit="chunk", mininterval=10):
            x = to_model_input(torch.from_numpy(f["img"][i : i + chunk]).to(device, non_blocking=True))
            if x.shape[-1] != input_px:
                x = F.interpolate(x, size=(input_px, input_px), mode="bilinear", antialias=True, align_corners=False)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                out[i : i + chunk] = model.predict(x).float().cpu().numpy()
        seconds = time.perf_counter() - tick
    log.info("%d tiles in %.1f s: %.1f tiles/s (reading included)", n, seconds, n / max(seconds, 1e-9))
    side = attrs["window_level_px"] * attrs["level_downsample"]  # tile side in level-0 pixels
    adata = ad.AnnData(X=out, obs=pd.DataFrame(index=[f"tile{i}" for i in range(n)]), var=pd.DataFrame(index=cell_types))
    adata.obsm["spatial"] = (coords + side / 2).astype(np.float64)
    adata.uns["tiles"] = {"tile_side_level0": float(side), "tiles_per_s": n / max(seconds, 1e-9), **{k: v.item() if hasattr(v, "item") else v for k, v in attrs.items()}}
    return adata
