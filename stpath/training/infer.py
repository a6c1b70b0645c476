"""Batched inference of a trained model: image patches in memory, or every tile of a slide's tile
file read in chunks; bf16 autocast on the GPU."""

from __future__ import annotations

import logging
import time

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..wsi.scale import ImageScale
from ..wsi.tiles import TileGrid, iter_tile_images, read_tile_grid
from .augment import to_model_input

log = logging.getLogger(__name__)


@torch.no_grad()
def embed_images(fn, images: torch.Tensor, device: torch.device, batch: int = 256) -> torch.Tensor:
    """``fn`` (an embedding or a prediction) of uint8 [N, H, W, 3] images, batch by batch."""
    out = []
    autocast = device.type == "cuda"
    for i in range(0, len(images), batch):
        x = to_model_input(images[i : i + batch].to(device, non_blocking=True))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            out.append(fn(x).float())
    return torch.cat(out)


@torch.no_grad()
def infer_tiles(
    fn, tiles_path, n_outputs: int, device: torch.device, scale: ImageScale, chunk: int = 512
) -> tuple[np.ndarray, float, TileGrid]:
    """``fn`` of every tile of a tile file, the tiles per second (reading included) and the file's
    tile grid. ``scale``: the images the model learnt from; tiles of the same field of view at
    another pixel count are resized to it, tiles of another field are refused."""
    grid = read_tile_grid(tiles_path)
    if not grid.scale.same_field(scale):
        raise ValueError(
            f"{tiles_path}: tiles of {grid.scale.describe()}, but the model learnt from {scale.describe()}"
        )
    autocast = device.type == "cuda"
    n = len(grid)
    out = np.zeros((n, n_outputs), np.float32)
    tick = time.perf_counter()
    for start, images in tqdm(
        iter_tile_images(tiles_path, chunk), total=-(-n // chunk), desc="tiles", unit="chunk", mininterval=10
    ):
        x = to_model_input(torch.from_numpy(images).to(device, non_blocking=True))
        if x.shape[-1] != scale.px:
            x = F.interpolate(x, size=(scale.px, scale.px), mode="bilinear", antialias=True, align_corners=False)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            out[start : start + len(images)] = fn(x).float().cpu().numpy()
    rate = n / max(time.perf_counter() - tick, 1e-9)
    log.info("%d tiles: %.1f tiles/s (reading included)", n, rate)
    return out, rate, grid
