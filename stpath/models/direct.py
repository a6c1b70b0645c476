"""Direct regression baseline (ST-Net style): the same image encoder, mean-pooled tokens, a linear
head onto the normalised expression, trained with MSE."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .encoders import EncoderConfig, TokenEncoder


class DirectRegression(nn.Module):
    def __init__(self, n_genes: int, encoder: EncoderConfig, released_init: bool = False):
        super().__init__()
        self.encoder = TokenEncoder(encoder, released_init)
        self.head = nn.Linear(self.encoder.dim, n_genes)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(images).mean(dim=1))

    def forward(self, images: torch.Tensor, expression: torch.Tensor) -> dict[str, torch.Tensor]:
        loss = F.mse_loss(self.predict(images), expression)
        return {"loss": loss, "mse": loss.detach()}


def build(settings, n_genes: int, n_outputs: int) -> DirectRegression:
    """Registry builder: the same encoder as CMRCNet's (``settings.cmrcnet.encoder``), started alike."""
    return DirectRegression(n_genes, settings.cmrcnet.encoder, settings.cmrcnet.released_init)
