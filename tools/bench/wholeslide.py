"""Throughput of whole-slide inference (tiles/s) for every image model, through the path the
workflow takes: a tile file on disk read in chunks (``predict_tiles`` of each branch), the model
loaded from a checkpoint, CMRCNet/BLEEP retrieving over the keys of ``--keys`` training spots.
Weights are random (a speed figure only); ``demo`` is the demo's small ViT, ``paper`` the papers'
encoders (CMRCNet's ViT-B/32; CUCA on the Virchow2 architecture with LoRA), bf16 on a GPU.
Run: python -m tools.bench.wholeslide [--sizes demo paper] [--tiles 1024] [--out bench.tsv]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch

from stpath.celltypes import wholeslide as cells
from stpath.celltypes.models import build as build_cells
from stpath.celltypes.settings import CellTypeSettings
from stpath.expression import wholeslide as expression
from stpath.expression.models import build as build_expression
from stpath.expression.settings import ExpressionSettings
from stpath.models import registry
from stpath.models.cmrcnet import CMRCNetConfig
from stpath.models.cuca import CUCAConfig
from stpath.models.encoders import EncoderConfig
from tools.bench import show

N_GENES, N_TYPES, N_MAP_GENES = 785, 39, 64  # HER2ST's HVG union, its cell types, markers + HVG-50
DEMO_ENCODER = EncoderConfig(patch_size=32, embed_dim=96, depth=2, num_heads=4)
SIZES = {
    "demo": (
        ExpressionSettings(cmrcnet=CMRCNetConfig(encoder=DEMO_ENCODER, proj_dim=64, gene_tokens=4, fusion_heads=4)),
        CellTypeSettings(cuca=CUCAConfig(encoder=DEMO_ENCODER, preset="", finetune="full")),
    ),
    "paper": (ExpressionSettings(), CellTypeSettings(cuca=CUCAConfig(preset="virchow2", finetune="lora"))),
}


def tile_file(path: Path, n: int, px: int = 224) -> Path:
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.create_dataset(
            "img", data=rng.integers(0, 256, (n, px, px, 3), dtype=np.uint8), chunks=(1, px, px, 3), compression="lzf"
        )
        f["coords"] = np.stack([np.arange(n) * px, np.zeros(n, int)], 1)
        f.attrs.update(window_level_px=px, level_downsample=1.0)
    return path


def predictor(name: str, size: str, folder: Path, n_keys: int, device: torch.device):
    expression_settings, cell_settings = SIZES[size]
    torch.manual_seed(0)
    checkpoint = folder / f"{name}_{size}.pt"
    if registry.get(name).task == registry.EXPRESSION:
        torch.save(build_expression(name, N_GENES, expression_settings).state_dict(), checkpoint)
        keys = torch.rand(n_keys, N_GENES)
        genes = [f"G{i}" for i in range(N_GENES)]
        made = expression.from_run(name, expression_settings, checkpoint, genes, keys, device)
        return lambda tiles: expression.predict_tiles(
            made, tiles, genes[:N_MAP_GENES], device, 224, sample="bench", split="final"
        )
    torch.save(build_cells(name, N_TYPES, 250, cell_settings).state_dict(), checkpoint)
    made = cells.from_run(
        name, cell_settings, checkpoint, [f"G{i}" for i in range(250)], [f"T{i}" for i in range(N_TYPES)], device
    )
    return lambda tiles: cells.predict_tiles(made, tiles, device, 224, sample="bench", split="final")


def bench(sizes: list[str], models: list[str], n_tiles: int, n_keys: int, device: torch.device) -> list[dict]:
    rows = []
    name_of_device = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        tiles = tile_file(Path(tmp) / "tiles.h5", n_tiles)
        warm = tile_file(Path(tmp) / "warm.h5", 16)
        for size in sizes:
            for name in models:
                predict = predictor(name, size, Path(tmp), n_keys, device)
                predict(warm)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                tick = time.perf_counter()
                out = predict(tiles)
                seconds = time.perf_counter() - tick
                rows.append(
                    {
                        "model": name,
                        "size": size,
                        "device": name_of_device,
                        "tiles": n_tiles,
                        "outputs": out.predicted.shape[1],
                        "tiles_per_s": round(n_tiles / seconds, 1),
                        "reading_included": True,
                    }
                )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=None, choices=list(SIZES), help="default: demo on CPU, both on GPU")
    ap.add_argument("--models", nargs="+", default=list(registry.MODELS), choices=list(registry.MODELS))
    ap.add_argument("--tiles", type=int, default=None, help="default: 256 on CPU, 4096 on GPU")
    ap.add_argument("--keys", type=int, default=3000, help="training spots the retrieval models search")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sizes = args.sizes or (["demo", "paper"] if device.type == "cuda" else ["demo"])
    n_tiles = args.tiles or (4096 if device.type == "cuda" else 256)
    show(pd.DataFrame(bench(sizes, args.models, n_tiles, args.keys, device)), args.out)


if __name__ == "__main__":
    main()
