"""Batch preparation on the device: uint8 HWC -> normalised float CHW, with random flips and 90
degree rotations drawn per sample and, optionally, stain jitter. The flips and rotation of every
sample are one gather of its pixels through a precomputed index table (one op per batch, no
per-image Python, no device sync), done on the uint8 pixels before they are widened to float.

Stain jitter (Tellez et al. 2018, "HED-light" in Tellez et al. 2019): each image's haematoxylin,
eosin and DAB concentrations, from colour deconvolution with scikit-image's Ruifrok-Johnston
matrices, are scaled by U(1 - h, 1 + h) and shifted by U(-h, h) optical density; then brightness,
contrast and saturation factors U(1 - v, 1 + v) per image, defined as torchvision's. All factors
are drawn per image, as one tensor per batch, from the loop's seeded generator. (torchvision's and
scikit-image's functions take one factor per call, or work on one image on the CPU.)"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from skimage.color import hed_from_rgb, rgb_from_hed

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # luma weights of torchvision's rgb_to_grayscale
MIN_RGB = 1e-6  # floor before the logarithm (scikit-image's separate_stains)


@dataclass(frozen=True)
class StainJitter:
    """Per-image colour perturbation ranges; 0 turns a perturbation off."""

    hed: float = 0.0  # HED concentrations: scale U(1 - hed, 1 + hed), shift U(-hed, hed) OD
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0

    @property
    def active(self) -> bool:
        return any(v > 0 for v in (self.hed, self.brightness, self.contrast, self.saturation))


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


def _float_chw(x: torch.Tensor) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float [N, 3, H, W], still 0-255. On the CPU the result is made
    contiguous: oneDNN's convolution forward and backward took twice as long on the permuted
    (channels-last) strides (measured: patch embedding 94 vs 49 ms per batch of 32); on the GPU
    the permuted layout is what the measured throughput used."""
    x = x.permute(0, 3, 1, 2)
    if x.device.type == "cpu":
        x = x.contiguous()
    return x.float()


def _standardise(x: torch.Tensor, scale: float) -> torch.Tensor:
    """float [N, 3, H, W] in [0, scale] -> ImageNet statistics, in place."""
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    return x.div_(scale * std).sub_(mean / std)


def _uniform(n: int, width: float, device, generator, columns: int = 1) -> torch.Tensor:
    """[n, columns] draws from U(-width, width)."""
    return (torch.rand((n, columns), device=device, generator=generator) * 2 - 1) * width


def hed_jitter(rgb: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1], [N, 3, H, W], with each image's H, E and D concentrations (optical density
    deconvolved by scikit-image's matrices) mapped to ``scale * c + shift`` ([N, 3] each).
    Deconvolution, scaling and recombination are linear in optical density: one 3 x 3 map and an
    offset per image (measured on this CPU: 43 against 117 ms per batch of 32 as three steps)."""
    to_hed = torch.as_tensor(hed_from_rgb, dtype=rgb.dtype, device=rgb.device)
    to_rgb = torch.as_tensor(rgb_from_hed, dtype=rgb.dtype, device=rgb.device)
    per_image = torch.einsum("cs,ns,sd->ncd", to_hed, scale, to_rgb)
    offset = (shift @ to_rgb)[:, :, None, None]
    od = -torch.log(rgb.clamp_min(MIN_RGB))
    return torch.exp(-(torch.einsum("nchw,ncd->ndhw", od, per_image) + offset)).clamp_(0, 1)


def _gray(rgb: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(GRAY_WEIGHTS, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb * weights).sum(dim=1, keepdim=True)


def colour_jitter(
    rgb: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor, saturation: torch.Tensor
) -> torch.Tensor:
    """Brightness, contrast and saturation factors ([N] each, 1 = unchanged) as torchvision
    defines them: scale; blend with the image's mean grey; blend with its grey image."""
    rgb = (rgb * brightness.view(-1, 1, 1, 1)).clamp_(0, 1)
    c = contrast.view(-1, 1, 1, 1)
    rgb = (c * rgb + (1 - c) * _gray(rgb).mean(dim=(2, 3), keepdim=True)).clamp_(0, 1)
    s = saturation.view(-1, 1, 1, 1)
    return (s * rgb + (1 - s) * _gray(rgb)).clamp_(0, 1)


def stain_jitter(rgb: torch.Tensor, jitter: StainJitter, generator: torch.Generator | None) -> torch.Tensor:
    """``rgb`` (float [N, 3, H, W] in [0, 1]) with the perturbations of ``jitter`` drawn per image."""
    n, dev = rgb.shape[0], rgb.device
    if jitter.hed > 0:
        scale = 1 + _uniform(n, jitter.hed, dev, generator, 3)
        rgb = hed_jitter(rgb, scale, _uniform(n, jitter.hed, dev, generator, 3))
    if jitter.brightness > 0 or jitter.contrast > 0 or jitter.saturation > 0:
        factors = [
            1 + _uniform(n, v, dev, generator)[:, 0] for v in (jitter.brightness, jitter.contrast, jitter.saturation)
        ]
        rgb = colour_jitter(rgb, *factors)
    return rgb


def to_model_input(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    augment: bool = False,
    stain: StainJitter = StainJitter(),
) -> torch.Tensor:
    """Model input of uint8 [N, H, W, 3] images; ``augment`` draws flips and rotations, ``stain``
    its colour perturbations (training only)."""
    if augment:
        n, h, w, c = images.shape
        if h != w:
            raise ValueError(f"augmentation rotates patches by 90 degrees and needs square ones, not {h}x{w}")
        draw = torch.randint(0, 2, (3, n), device=images.device, generator=generator)
        turns = torch.randint(0, 4, (n,), device=images.device, generator=generator)
        sources = _dihedral_sources(h, images.device)[draw[0] + 2 * draw[1] + 4 * turns]
        images = images.reshape(n, h * w, c).gather(1, sources[:, :, None].expand(-1, -1, c)).view(n, h, w, c)
    x = _float_chw(images)
    if not stain.active:
        return _standardise(x, 255.0)
    return _standardise(stain_jitter(x.div_(255.0), stain, generator), 1.0)
