"""Image encoders. ``TokenEncoder`` returns all tokens [B, N, D]: CMRCNet's ViT-B/32 (8 blocks,
8 heads, trained from scratch) by default, or any timm backbone, optionally with a local weight
file. ``ViTEncoder`` is CUCA's: a ViT (a foundation-model preset or the config's sizes) pooled to
concat(CLS, mean of patch tokens), fine-tuned fully, with LoRA on its last blocks, or frozen."""

from __future__ import annotations

from dataclasses import dataclass

import timm
import timm.layers
import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from .presets import PRESETS


@dataclass(frozen=True)
class EncoderConfig:
    name: str = ""  # timm model name; "" = CMRCNet's ViT built from the sizes below
    weights: str = ""  # local weight file for a timm model (no download)
    img_size: int = 224
    patch_size: int = 32
    embed_dim: int = 768
    depth: int = 8
    num_heads: int = 8


@dataclass(frozen=True)
class LoraSettings:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    blocks: int = 2  # LoRA on every Linear of the last `blocks` transformer blocks


def preset_kwargs(preset: str) -> dict:
    """A preset's timm keywords with its named layer classes resolved."""
    kwargs = dict(PRESETS[preset])
    if "mlp_layer" in kwargs:
        kwargs["mlp_layer"] = getattr(timm.layers, kwargs["mlp_layer"])
    if "act_layer" in kwargs:
        kwargs["act_layer"] = getattr(nn, kwargs["act_layer"])
    return kwargs


def create_backbone(cfg: EncoderConfig, preset: str = "", pooled: bool = False) -> nn.Module:
    """A headless timm model: the ``preset``'s architecture, or ``cfg.name``, with the local weight
    file, if any; or, with neither, a ViT of the config's sizes (from scratch). It returns every
    token, or with ``pooled`` the model's own pooled embedding (a ViT's class token, a CNN's
    global average)."""
    timm_kwargs = preset_kwargs(preset) if preset else {}
    if "img_size" in timm_kwargs and timm_kwargs["img_size"] is None:  # a CNN: any size
        del timm_kwargs["img_size"]
    name = timm_kwargs.pop("name", cfg.name)
    pool = {} if pooled else {"global_pool": ""}
    if name:
        overlay = {"file": cfg.weights} if cfg.weights else None
        return timm.create_model(
            name, pretrained=bool(cfg.weights), pretrained_cfg_overlay=overlay, num_classes=0, **pool, **timm_kwargs
        )
    return VisionTransformer(
        img_size=cfg.img_size,
        patch_size=cfg.patch_size,
        embed_dim=cfg.embed_dim,
        depth=cfg.depth,
        num_heads=cfg.num_heads,
        mlp_ratio=4.0,
        qkv_bias=True,
        num_classes=0,
        global_pool="token" if pooled else "",
    )


def released_vit_init(vit: VisionTransformer) -> None:
    """The released CMRCNet ViT's initialisation: trunc-normal std 0.02 for the position embedding
    and the class token, trunc-normal std 0.01 for every Linear, Kaiming-normal fan-out for the
    patch embedding, zero biases, LayerNorms at weight 1 and bias 0 (timm's Linear and patch
    embedding starts are about 2x and 6x larger)."""
    nn.init.trunc_normal_(vit.pos_embed, std=0.02)
    if vit.cls_token is not None:
        nn.init.trunc_normal_(vit.cls_token, std=0.02)
    for m in vit.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.01)
        elif isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.LayerNorm)) and m.bias is not None:
            nn.init.zeros_(m.bias)


class TokenEncoder(nn.Module):
    """All tokens of an image; ``released_init`` starts a from-scratch ViT as the released CMRCNet
    does (a timm model or a weight file keeps its own start)."""

    def __init__(self, cfg: EncoderConfig, released_init: bool = False):
        super().__init__()
        self.net = create_backbone(cfg)
        if released_init and not cfg.name:
            released_vit_init(self.net)
        self.dim = self.net.num_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        tokens = self.net.forward_features(images)
        return tokens if tokens.ndim == 3 else tokens.flatten(2).transpose(1, 2)  # CNNs: [B, C, H, W]


class ViTEncoder(nn.Module):
    """A timm ViT split into a frozen prefix (patch embedding + first blocks) and a trainable suffix
    (last blocks + final norm), pooled to concat(CLS, mean of patch tokens). With the prefix frozen
    and no augmentation, the prefix output of each spot never changes: the trainer computes it once
    (``prefix``) and trains on it (``forward`` accepts prefix tokens [B, N, D] as well as images)."""

    def __init__(
        self, encoder: EncoderConfig, preset: str = "", finetune: str = "full", lora: LoraSettings = LoraSettings()
    ):
        super().__init__()
        self.net = create_backbone(encoder, preset=preset)
        if not hasattr(self.net, "blocks"):
            raise ValueError(
                f"this model needs a ViT encoder with transformer blocks; {preset or encoder.name!r} has none"
            )
        depth = len(self.net.blocks)
        if finetune == "lora":
            from peft import LoraConfig, inject_adapter_in_model  # ~1.5 s to import; only LoRA needs it

            self.split = depth - lora.blocks
            targets = [
                n
                for n, m in self.net.named_modules()
                if isinstance(m, nn.Linear) and n.startswith(tuple(f"blocks.{i}." for i in range(self.split, depth)))
            ]
            adapters = LoraConfig(
                r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, bias="none", target_modules=targets
            )
            self.net = inject_adapter_in_model(adapters, self.net)  # freezes everything but the adapters
        elif finetune == "frozen":
            self.split = depth
            self.net.requires_grad_(False)
        elif finetune == "full":
            self.split = 0
        else:
            raise ValueError(f"finetune must be lora, frozen or full, not {finetune!r}")
        self.prefix_frozen = self.split > 0
        self.n_prefix_tokens = self.net.num_prefix_tokens
        self.dim = self.net.num_features * (2 if self.net.cls_token is not None else 1)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.prefix_frozen:  # frozen layers stay in eval mode (dropout, norm statistics)
            for m in (self.net.patch_embed, self.net.norm_pre, *self.net.blocks[: self.split]):
                m.eval()
        return self

    def prefix(self, images: torch.Tensor) -> torch.Tensor:
        net = self.net
        x = net.norm_pre(net.patch_drop(net._pos_embed(net.patch_embed(images))))
        for block in net.blocks[: self.split]:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x if x.ndim == 3 else self.prefix(x)
        for block in self.net.blocks[self.split :]:
            tokens = block(tokens)
        tokens = self.net.norm(tokens)
        patches = tokens[:, self.n_prefix_tokens :].mean(dim=1)
        if self.net.cls_token is None:
            return patches
        return torch.cat([tokens[:, 0], patches], dim=1)
