"""Whole-slide inference: the trained model applied to every tissue tile of the tile grid, read
from the tile file in chunks (a slide's tiles need not fit in memory)."""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from ..predictions import TilePrediction
from ..training.infer import infer_tiles
from ..wsi.tiles import read_tile_grid
from .models import clip_abundances


def predict_tiles(model: nn.Module, tiles_path, cell_types: list[str], device: torch.device, input_px: int, *, name: str, fold: int, sample: str, chunk: int = 512) -> TilePrediction:
    """Abundances of every tile (tiles x cell types) of ``sample`` by ``name``, the model of ``fold``."""
    values, rate = infer_tiles(model.predict, tiles_path, len(cell_types), device, input_px, chunk)
    values, clipped = clip_abundances(values)
    grid = read_tile_grid(tiles_path)
    abundance = pd.DataFrame(values, index=[f"tile{i}" for i in range(len(grid))], columns=cell_types)
    return TilePrediction(name, fold, sample, abundance, grid.centres, grid.side_level0, rate, grid.attrs, clipped)
