"""Training throughput of the expression models (img/s at batch 64), our loop against the bare
model step on the same device.

* model-step ceiling: forward + backward + AdamW step on one batch already on the device
  (normalised float), repeated: what the model alone allows;
* our loop: ``stpath.training.loop.train`` on spots held in memory (uint8 patches resident on the
  GPU, augmentation and normalisation on the device, bf16 autocast on GPU), epoch time of the
  training pass.
Run: python -m tools.bench.training [--model cmrcnet] [--spots 4096] [--genes 1000] [--small] [--out bench.tsv]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from stpath.expression.models import build
from stpath.expression.settings import ExpressionSettings
from stpath.models.cmrcnet import CMRCNetConfig
from stpath.models.encoders import EncoderConfig
from stpath.training.data import SpotSet
from stpath.training.loop import TrainSettings, seed_everything, train
from tools.bench import show

SMALL = ExpressionSettings(
    cmrcnet=CMRCNetConfig(
        encoder=EncoderConfig(embed_dim=96, depth=2, num_heads=4), proj_dim=64, gene_tokens=4, fusion_heads=4
    )
)


def model_step_rate(model, batch: int, genes: int, device: torch.device, steps: int) -> float:
    x = torch.randn(batch, 3, 224, 224, device=device)
    y = torch.rand(batch, genes, device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    autocast = device.type == "cuda"
    for i in range(steps + 3):  # 3 warm-up steps
        if i == 3:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            loss = model(x, y)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="cmrcnet", choices=["cmrcnet", "bleep", "direct"])
    ap.add_argument("--spots", type=int, default=4096)
    ap.add_argument("--genes", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--small", action="store_true", help="the demo's small ViT (for a CPU sanity run)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cfg = SMALL if args.small else ExpressionSettings()
    seed_everything(0)
    model = build(args.model, args.genes, cfg).to(device)
    ceiling = model_step_rate(model, args.batch, args.genes, device, args.steps)
    g = torch.Generator().manual_seed(0)
    data = SpotSet(
        torch.randint(0, 256, (args.spots, 224, 224, 3), generator=g, dtype=torch.uint8),
        torch.rand(args.spots, args.genes, generator=g),
        np.array(["A", "B"] * (args.spots // 2), dtype=object),
        np.array([str(i) for i in range(args.spots)]),
        [f"G{i}" for i in range(args.genes)],
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    seed_everything(0)
    with tempfile.TemporaryDirectory() as tmp:
        history = train(
            build(args.model, args.genes, cfg),
            data,
            TrainSettings(epochs=args.epochs, batch_size=args.batch),
            device,
            Path(tmp),
        )
    loop_rate = float(history.train_img_per_s.iloc[1:].mean() if len(history) > 1 else history.train_img_per_s.iloc[0])
    row = {
        "model": args.model,
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        "encoder": "small ViT" if args.small else "ViT-B/32 depth 8",
        "batch": args.batch,
        "genes": args.genes,
        "model_step_img_per_s": round(ceiling, 1),
        "loop_img_per_s": round(loop_rate, 1),
        "loop_vs_ceiling": round(loop_rate / ceiling, 3),
        "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20) if device.type == "cuda" else float("nan"),
    }
    table = pd.DataFrame([row])
    show(table, args.out)


if __name__ == "__main__":
    main()
