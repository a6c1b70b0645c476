"""Image encoders that return all tokens [B, N, D]: CMRCNet's ViT-B/32 (8 blocks, 8 heads,
trained from scratch) by default, or any timm backbone, optionally with a local weight file."""

from __future__ import annotations

from dataclasses import dataclass

import timm
import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn


@dataclass(frozen=True)
class EncoderConfig:
    name: str = ""  # timm model name; "" = CMRCNet's ViT built from the sizes below
    weights: str = ""  # local weight file for a timm model (no download)
    img_size: int = 224
    patch_size: int = 32
    embed_dim: int = 768
    depth: int = 8
    num_heads: int = 8


def create_backbone(cfg: EncoderConfig, name: str = "", **timm_kwargs) -> nn.Module:
    """A headless timm model: ``name`` (or ``cfg.name``) with the local weight file, if any, and
    extra architecture keywords; or, with no name, a ViT of the config's sizes (from scratch)."""
    name = name or cfg.name
    if name:
        overlay = {"file": cfg.weights} if cfg.weights else None
        return timm.create_model(name, pretrained=bool(cfg.weights), pretrained_cfg_overlay=overlay, num_classes=0, global_pool="", **timm_kwargs)
    return VisionTransformer(
        img_size=cfg.img_size, patch_size=cfg.patch_size, embed_dim=cfg.embed_dim, depth=cfg.depth,
        num_heads=cfg.num_heads, mlp_ratio=4.0, qkv_bias=True, num_classes=0, global_pool="",
    )


class TokenEncoder(nn.Module):
    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.net = create_backbone(cfg)
        self.dim = self.net.num_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        tokens = self.net.forward_features(images)
        return tokens if tokens.ndim == 3 else tokens.flatten(2).transpose(1, 2)  # CNNs: [B, C, H, W]
