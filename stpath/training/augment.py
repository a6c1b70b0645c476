"""Batch preparation on the device: uint8 HWC -> normalised float CHW, with random flips and 90
degree rotations drawn per sample. The flips and rotation of every sample are one gather of its
pixels through a precomputed index table (one op per batch, no per-image Python, no device sync),
done on the uint8 pixels before they are widened to float."""

from __future__ import annotations

import functools

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@functools.lru_cache(maxsize=8)
def _dihedral_sources(side: int, device: torch.device) -> torch.Tensor:
    """[16, side * side]: for each draw (bit 0 horizontal flip, bit 1 vertical flip, bits 2-3 the
    number of 90 degree turns), the source pixel of every output pixel."""
    pixels = torch.arange(side * side).view(side, side)
    tables = []
    for code in range(16):
        t = pixels
        if code & 1:
            t = t.flip(1)
        if code & 2:
            t = t.flip(0)
        t = torch.rot90(t, code >> 2, dims=(0, 1))
        tables.append(t.reshape(-1))
    return torch.stack(tables).to(device)


def _normalise(x: torch.Tensor) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float [N, 3, H, W] with ImageNet statistics. On the CPU the result is
    made contiguous: oneDNN's convolution forward and backward took twice as long on the
    permuted (channels-last) strides (measured: patch embedding 94 vs 49 ms per batch of 32);
    on the GPU the permuted layout is what the measured throughput used."""
    x = x.permute(0, 3, 1, 2)
    if x.device.type == "cpu":
        x = x.contiguous()
    x = x.float()
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    return x.div_(255.0 * std).sub_(mean / std)


def to_model_input(images: torch.Tensor, generator: torch.Generator | None = None, augment: bool = False) -> torch.Tensor:
    if augment:
        n, h, w, c = images.shape
        if h != w:
            raise ValueError(f"augmentation rotates patches by 90 degrees and needs square ones, not {h}x{w}")
        draw = torch.randint(0, 2, (3, n), device=images.device, generator=generator)
        turns = torch.randint(0, 4, (n,), device=images.device, generator=generator)
        sources = _dihedral_sources(h, images.device)[draw[0] + 2 * draw[1] + 4 * turns]
        images = images.reshape(n, h * w, c).gather(1, sources[:, :, None].expand(-1, -1, c)).view(n, h, w, c)
    return _normalise(images)
