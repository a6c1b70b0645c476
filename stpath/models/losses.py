"""Losses of CMRCNet, BLEEP and CUCA."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bleep_contrastive(image: torch.Tensor, spot: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """BLEEP's symmetric soft-target contrastive loss, one value per sample (embeddings are not
    normalised): logits = S I^T / t, targets = softmax((I I^T + S S^T) / 2 * t). Computed in fp32
    under any autocast: at t = 1 the logits reach a few hundred, which bf16 rounds in steps of 1-2."""
    dtype = torch.promote_types(image.dtype, torch.float32)
    with torch.autocast(image.device.type, enabled=False):
        return _bleep_contrastive(image.to(dtype), spot.to(dtype), temperature)


def _bleep_contrastive(image: torch.Tensor, spot: torch.Tensor, temperature: float) -> torch.Tensor:
    logits = spot @ image.T / temperature
    targets = F.softmax((image @ image.T + spot @ spot.T) / 2 * temperature, dim=-1)
    spot_loss = -(targets * F.log_softmax(logits, dim=-1)).sum(-1)
    image_loss = -(targets.T * F.log_softmax(logits.T, dim=-1)).sum(-1)
    return (spot_loss + image_loss) / 2


def cmrcnet_total(contrastive: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """L = mean_i log(1 + l_con,i) + log(1 + l_rec)."""
    return torch.log1p(contrastive).mean() + torch.log1p(reconstruction)


def rmse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CUCA's loss terms: sqrt of the mean squared error over the whole batch x dim tensor."""
    return torch.sqrt(F.mse_loss(pred.float(), target.float()))
