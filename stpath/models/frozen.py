"""Frozen-encoder baselines of HEST-Benchmark (Jaume et al. 2024). A pretrained encoder, frozen,
embeds each spot patch with timm's pooled features (a ViT's class token, as the HEST leaderboard
uses; a CNN's global average). ``hest_probe`` maps the embedding to expression with HEST's probe,
fitted in closed form (``stpath.expression.hest``) and held here as one linear layer.
``frozen_retrieval`` predicts as CMRCNet does, by the mean expression of the most similar
training spots, with the training spots' frozen image embeddings as keys (kept in the model's
state, so that its checkpoint predicts on its own)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .encoders import EncoderConfig, create_backbone
from .retrieval import retrieve


@dataclass(frozen=True)
class FrozenEncoderConfig:
    """The expression_models.frozen section: an encoder preset (models.presets) or the encoder
    below (a timm name, or the branch's ViT sizes), its local weight file (none: random weights,
    a lower bound), and the probe's PCA size."""

    preset: str = ""
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    pca_dim: int = 256

    @classmethod
    def from_config(cls, section: dict, branch_encoder: dict) -> "FrozenEncoderConfig":
        encoder = {**branch_encoder, **{k: v for k, v in section.items() if k in ("name", "weights")}}
        return cls(preset=section["preset"], encoder=EncoderConfig(**encoder), pca_dim=section["pca_dim"])


class FrozenEncoder(nn.Module):
    """A timm backbone's pooled embedding, never trained (eval mode, no gradients)."""

    def __init__(self, cfg: FrozenEncoderConfig):
        super().__init__()
        self.net = create_backbone(cfg.encoder, preset=cfg.preset, pooled=True).requires_grad_(False)
        self.dim = self.net.num_features

    def train(self, mode: bool = True):
        return super().train(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


class HESTProbe(nn.Module):
    """Frozen embedding -> expression by one linear map (standardisation, PCA and ridge folded)."""

    def __init__(self, n_genes: int, cfg: FrozenEncoderConfig):
        super().__init__()
        self.encoder = FrozenEncoder(cfg)
        self.head = nn.Linear(self.encoder.dim, n_genes)

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(images))


class FrozenRetrieval(nn.Module):
    """Frozen embedding -> mean expression of the ``k`` training spots with the most cosine-similar
    embeddings (``set_keys`` stores them)."""

    def __init__(self, n_genes: int, cfg: FrozenEncoderConfig, k: int):
        super().__init__()
        self.encoder = FrozenEncoder(cfg)
        self.k = k
        self.register_buffer("keys", torch.zeros(0, self.encoder.dim))
        self.register_buffer("key_expression", torch.zeros(0, n_genes))

    def set_keys(self, keys: torch.Tensor, expression: torch.Tensor) -> None:
        self.keys = keys.float().to(self.keys.device)
        self.key_expression = expression.float().to(self.keys.device)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in ("keys", "key_expression"):  # the number of training spots is the checkpoint's
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name], device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        if not len(self.keys):
            raise RuntimeError(
                "frozen_retrieval has no keys: fit it (stpath.expression.models.fit) or load a fitted checkpoint"
            )
        return retrieve(self.encoder(images), self.keys, self.key_expression, self.k)


def build_probe(settings, n_genes: int, n_outputs: int) -> HESTProbe:
    return HESTProbe(n_outputs, settings.frozen)


def build_retrieval(settings, n_genes: int, n_outputs: int) -> FrozenRetrieval:
    return FrozenRetrieval(n_outputs, settings.frozen, settings.retrieval_k)
