"""Throughput of CUCA: training (img/s) and whole-slide inference (tiles/s), with the demo's small
ViT (trained in full) and with the Virchow2 architecture (random weights: a speed figure only)
frozen except LoRA on its last two blocks, plus peak GPU memory.

* reference step: what the released code does every step, the whole encoder forward on a batch of
  normalised images already on the device, LoRA backward, Adam step; in fp32 (as its main.py runs)
  and under bf16 autocast;
* our loop: ``stpath.training.loop.train`` on uint8 spots in memory. With a frozen prefix and no
  augmentation the first blocks run once per spot (``prefix_s``), then every epoch trains on their
  output. ``epoch_img_per_s`` is the per-epoch rate, ``img_per_s_100_epochs`` amortises the
  one-time prefix over the paper's 100 epochs;
* whole-slide inference: ``predict`` over uint8 tiles in memory, bf16 on GPU.
Run: python -m tools.bench.cuca [--sizes small virchow2] [--spots 2048] [--out bench.tsv]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from stpath.celltypes.models import build, predict
from stpath.celltypes.settings import CellTypeSettings
from stpath.models.cuca import CUCAConfig
from stpath.models.encoders import EncoderConfig
from stpath.training.data import SpotSet
from stpath.training.loop import TrainSettings, frozen_prefix_output, seed_everything, train
from tools.bench import show

N_TYPES, N_GENES = 39, 250  # HER2ST's cell types, CUCA's gene input
SIZES = {
    "small": CUCAConfig(
        encoder=EncoderConfig(patch_size=32, embed_dim=96, depth=2, num_heads=4), preset="", finetune="full"
    ),
    "virchow2": CUCAConfig(preset="virchow2", finetune="lora"),
}


def config(size: str) -> CellTypeSettings:
    return CellTypeSettings(cuca=SIZES[size], probe_alphas=(1.0,))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def reference_step_rate(model, batch: int, device, steps: int, bf16: bool) -> float:
    x = torch.randn(batch, 3, 224, 224, device=device)
    genes, ab = torch.rand(batch, N_GENES, device=device), torch.rand(batch, N_TYPES, device=device)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=2e-3, weight_decay=1e-4)
    model.train()
    for i in range(steps + 2):  # 2 warm-up steps
        if i == 2:
            sync(device)
            start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model(x, genes, ab)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)
    return steps * batch / (time.perf_counter() - start)


def peak_mb(device) -> float:
    return round(torch.cuda.max_memory_allocated() / 2**20) if device.type == "cuda" else float("nan")


def reset_peak(device):
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def bench(size: str, spots: int, batch: int, epochs: int, steps: int, device) -> list[dict]:
    cfg = config(size)
    name = "cuca"
    rows = []
    base = {"size": size, "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu", "batch": batch}
    for bf16 in [False, True] if device.type == "cuda" else [False]:
        seed_everything(0)
        reset_peak(device)
        model = build(name, N_TYPES, N_GENES, cfg).to(device)
        rate = reference_step_rate(model, batch, device, steps, bf16)
        rows.append(
            base
            | {
                "what": f"reference step ({'bf16' if bf16 else 'fp32'})",
                "img_per_s": round(rate, 1),
                "peak_gpu_mb": peak_mb(device),
            }
        )
        del model
    g = torch.Generator().manual_seed(0)
    data = SpotSet(
        torch.randint(0, 256, (spots, 224, 224, 3), generator=g, dtype=torch.uint8),
        torch.rand(spots, N_GENES, generator=g),
        np.array(["A", "B"] * (spots // 2), dtype=object),
        np.array([str(i) for i in range(spots)]),
        [f"G{i}" for i in range(N_GENES)],
        torch.rand(spots, N_TYPES, generator=g),
        [f"T{i}" for i in range(N_TYPES)],
    )
    seed_everything(0)
    model = build(name, N_TYPES, N_GENES, cfg)
    prefix_s = 0.0
    if model.prefix_frozen:  # the one-time pass the loop does first, timed on its own
        model.to(device)
        sync(device)
        tick = time.perf_counter()
        frozen_prefix_output(model, data.images, device)
        sync(device)
        prefix_s = time.perf_counter() - tick
    reset_peak(device)
    train_cfg = TrainSettings(
        optimizer="adam",
        schedule="onecycle",
        select="pearson",
        epochs=epochs,
        batch_size=batch,
        lr=2e-3,
        weight_decay=1e-4,
        augment=False,
    )
    with tempfile.TemporaryDirectory() as tmp:
        history = train(model, data, train_cfg, device, Path(tmp))
    epoch_rate = float(history.train_img_per_s.iloc[1:].mean() if len(history) > 1 else history.train_img_per_s.iloc[0])
    n_train = spots * (1 - train_cfg.val_fraction)
    amortised = 100 * n_train / (prefix_s + 100 * n_train / epoch_rate)
    rows.append(
        base
        | {
            "what": "our loop (per epoch)",
            "img_per_s": round(epoch_rate, 1),
            "peak_gpu_mb": peak_mb(device),
            "prefix_s": round(prefix_s, 2),
        }
    )
    rows.append(
        base
        | {
            "what": "our loop (100 epochs, prefix amortised)",
            "img_per_s": round(amortised, 1),
            "peak_gpu_mb": peak_mb(device),
            "prefix_s": round(prefix_s, 2),
        }
    )
    reset_peak(device)
    model.eval()
    predict(model, data.images[:batch], device)  # warm-up
    sync(device)
    tick = time.perf_counter()
    predict(model, data.images, device)
    sync(device)
    rows.append(
        base
        | {
            "what": "whole-slide inference",
            "img_per_s": round(spots / (time.perf_counter() - tick), 1),
            "peak_gpu_mb": peak_mb(device),
        }
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=None, choices=list(SIZES), help="default: small on CPU, both on GPU")
    ap.add_argument("--spots", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sizes = args.sizes or (["small", "virchow2"] if device.type == "cuda" else ["small"])
    rows = [r for size in sizes for r in bench(size, args.spots, args.batch, args.epochs, args.steps, device)]
    table = pd.DataFrame(rows)
    show(table, args.out)


if __name__ == "__main__":
    main()
