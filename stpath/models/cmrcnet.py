"""CMRCNet (Liu et al., Medical Image Analysis 108, 103889, 2025): contrastive image/expression
learning (BLEEP) plus cross-modal masked reconstruction. ``reconstruction=False`` is BLEEP."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from .encoders import EncoderConfig, TokenEncoder
from .layers import ContrastiveProjection, FusionBlock, GeneTokens, element_mask
from .losses import bleep_contrastive, cmrcnet_total


@dataclass(frozen=True)
class CMRCNetConfig:
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    proj_dim: int = 256
    gene_tokens: int = 8
    mask_keep: float = 0.5  # share of image-token feature entries kept
    first_cross_heads: int = 4
    fusion_heads: int = 8
    fusion_passes: int = 2  # the same fusion block applied this many times
    temperature: float = 1.0
    reconstruction: bool = True  # False: the BLEEP ablation
    released_init: bool = True  # the released code's start for the from-scratch encoder

    @classmethod
    def from_config(cls, section: dict) -> "CMRCNetConfig":
        """From the expression_models section: its encoder and cmrcnet keys."""
        return cls(encoder=EncoderConfig(**section["encoder"]), **section["cmrcnet"])


class CMRCNet(nn.Module):
    def __init__(self, n_genes: int, cfg: CMRCNetConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.proj_dim
        self.encoder = TokenEncoder(cfg.encoder, cfg.released_init)
        # contrastive heads (BLEEP)
        self.image_head = ContrastiveProjection(self.encoder.dim, d)
        self.expression_head = ContrastiveProjection(n_genes, d)
        if cfg.reconstruction:
            # cross-modal masked reconstruction branch (training only)
            self.gene_tokens = GeneTokens(n_genes, cfg.gene_tokens, d)
            self.image_tokens = nn.Linear(self.encoder.dim, d)
            self.first_cross = nn.MultiheadAttention(d, cfg.first_cross_heads, batch_first=True)
            self.fusion = FusionBlock(d, cfg.fusion_heads)

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        return self.image_head(self.encoder(images).mean(dim=1))

    def embed_expression(self, expression: torch.Tensor) -> torch.Tensor:
        return self.expression_head(expression)

    def reconstruct(self, tokens: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        genes = self.gene_tokens(expression)
        masked = element_mask(self.image_tokens(tokens), self.cfg.mask_keep)
        latent, _ = self.first_cross(masked, genes, genes, need_weights=False)  # no residual
        for _ in range(self.cfg.fusion_passes):
            latent = self.fusion(latent, genes)
        return latent.mean(dim=1)

    def forward(self, images: torch.Tensor, expression: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms of one batch: 'loss' (what is optimised), 'contrastive', 'reconstruction'."""
        tokens = self.encoder(images)
        image = self.image_head(tokens.mean(dim=1))
        spot = self.expression_head(expression)
        con = bleep_contrastive(image, spot, self.cfg.temperature)
        if not self.cfg.reconstruction:
            return {"loss": con.mean(), "contrastive": con.mean().detach()}
        rec = F.mse_loss(self.reconstruct(tokens, expression), image)
        return {"loss": cmrcnet_total(con, rec), "contrastive": con.mean().detach(), "reconstruction": rec.detach()}


def build(settings, n_genes: int, n_outputs: int, **variant) -> CMRCNet:
    """Registry builder: CMRCNet on ``settings.cmrcnet`` with the variant's overrides (BLEEP turns
    the reconstruction branch off)."""
    return CMRCNet(n_genes, replace(settings.cmrcnet, **variant))
