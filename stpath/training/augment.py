"""Batch preparation on the device: uint8 HWC -> normalised float CHW, with random flips and 90
degree rotations drawn per sample (whole-batch tensor ops, no per-image Python)."""

from __future__ import annotations

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_model_input(images: torch.Tensor, generator: torch.Generator | None = None, augment: bool = False) -> torch.Tensor:
    x = images.permute(0, 3, 1, 2).float().div_(255.0)
    if augment:
        n = x.shape[0]
        draw = torch.randint(0, 2, (3, n), device=x.device, generator=generator)
        rot = torch.randint(0, 4, (n,), device=x.device, generator=generator)
        x = torch.where(draw[0].bool()[:, None, None, None], x.flip(3), x)  # horizontal
        x = torch.where(draw[1].bool()[:, None, None, None], x.flip(2), x)  # vertical
        for k in (1, 2, 3):  # square patches: a rotation keeps the shape
            x = torch.where((rot == k)[:, None, None, None], torch.rot90(x, k, dims=(2, 3)), x)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std
