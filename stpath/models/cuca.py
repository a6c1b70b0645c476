"""CUCA (Yan et al., Bioinformatics 2025): cell-type abundances per spot from the H&E patch.

Image encoder (a timm ViT; LoRA on the last blocks, or fully trained from scratch) -> morphology
embedding (CLS concatenated with the mean of the patch tokens) -> projection head -> linear
abundance head. A training-only molecule branch encodes the spot's top-expressed genes, is decoded
back to them, and its embedding is pulled towards the image embedding:

    L = w_main * RMSE(abundance) + w_rec * RMSE(gene reconstruction) + w_align * RMSE(z_img, z_mol)

The image-only ablation sets w_rec = w_align = 0 (the molecule branch is then not built).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from peft import LoraConfig, inject_adapter_in_model
from timm.layers import SwiGLUPacked
from torch import nn

from .encoders import EncoderConfig, create_backbone

# Architecture presets of pathology foundation models, as their model cards give them to timm
# (the weights come from the local file in EncoderConfig.weights).
PRESETS = {
    "virchow2": dict(
        name="vit_huge_patch14_224", img_size=224, init_values=1e-5, reg_tokens=4, mlp_ratio=5.3375,
        mlp_layer=SwiGLUPacked, act_layer=nn.SiLU, dynamic_img_size=True,
    ),
    "uni": dict(name="vit_large_patch16_224", img_size=224, init_values=1e-5, dynamic_img_size=True),
}


@dataclass(frozen=True)
class LoraSettings:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    blocks: int = 2  # LoRA on every Linear of the last `blocks` transformer blocks


@dataclass(frozen=True)
class CUCAConfig:
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    preset: str = ""  # "virchow2" | "uni" | "" (encoder settings as given)
    finetune: str = "full"  # "lora" (frozen backbone + LoRA), "frozen" (heads only), "full"
    lora: LoraSettings = field(default_factory=LoraSettings)
    hidden_dim: int = 512
    proj_dim: int = 512
    molecule_dims: tuple[int, ...] = (1024, 1024)
    dropout: float = 0.25
    w_main: float = 0.3
    w_rec: float = 0.6
    w_align: float = 0.1

    @property
    def uses_expression(self) -> bool:
        return self.w_rec > 0 or self.w_align > 0


def rmse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """sqrt of the mean squared error over the whole batch x dim tensor."""
    return torch.sqrt(nn.functional.mse_loss(pred.float(), target.float()))


def _mlp(dims: list[int], dropout: float, norm: bool, last_act: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        last = i == len(dims) - 2
        layers.append(nn.Linear(a, b))
        if last and not last_act:
            break
        if norm:
            layers.append(nn.BatchNorm1d(b))
        layers.append(nn.ReLU())
        if not last:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class ProjectionHead(nn.Module):
    """Linear -> BN -> ReLU -> Dropout (twice) -> Linear -> BN -> ReLU: the morphology embedding."""

    def __init__(self, in_dim: int, hidden_dim: int = 512, out_dim: int = 512, dropout: float = 0.25):
        super().__init__()
        self.net = _mlp([in_dim, hidden_dim, hidden_dim, out_dim], dropout, norm=True, last_act=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MoleculeEncoder(nn.Module):
    """The 'SNN' branch: genes -> 1024 -> 1024 (ReLU, Dropout) -> 512, Xavier-normal init."""

    def __init__(self, n_genes: int, hidden: tuple[int, ...], out_dim: int, dropout: float = 0.25):
        super().__init__()
        self.net = _mlp([n_genes, *hidden, out_dim], dropout, norm=False, last_act=False)
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, genes: torch.Tensor) -> torch.Tensor:
        return self.net(genes)


class GeneDecoder(nn.Module):
    """512 -> 512 (ReLU, Dropout) -> genes."""

    def __init__(self, in_dim: int, n_genes: int, dropout: float = 0.25):
        super().__init__()
        self.net = _mlp([in_dim, in_dim, n_genes], dropout, norm=False, last_act=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class ViTEncoder(nn.Module):
    """A timm ViT split into a frozen prefix (patch embedding + first blocks) and a trainable suffix
    (last blocks + final norm), pooled to concat(CLS, mean of patch tokens). With the prefix frozen
    and no augmentation, the prefix output of each spot never changes: the trainer computes it once
    (``prefix``) and trains on it (``forward`` accepts prefix tokens [B, N, D] as well as images)."""

    def __init__(self, cfg: CUCAConfig):
        super().__init__()
        kwargs = dict(PRESETS[cfg.preset]) if cfg.preset else {}
        name = kwargs.pop("name", cfg.encoder.name)
        self.net = create_backbone(cfg.encoder, name, **kwargs)
        if not hasattr(self.net, "blocks"):
            raise ValueError(f"CUCA needs a ViT encoder with transformer blocks; {name!r} has none")
        depth = len(self.net.blocks)
        if cfg.finetune == "lora":
            self.split = depth - cfg.lora.blocks
            targets = [n for n, m in self.net.named_modules() if isinstance(m, nn.Linear) and n.startswith(tuple(f"blocks.{i}." for i in range(self.split, depth)))]
            lora = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout, bias="none", target_modules=targets)
            self.net = inject_adapter_in_model(lora, self.net)  # freezes everything but the adapters
        elif cfg.finetune == "frozen":
            self.split = depth
            self.net.requires_grad_(False)
        elif cfg.finetune == "full":
            self.split = 0
        else:
            raise ValueError(f"finetune must be lora, frozen or full, not {cfg.finetune!r}")
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


class CUCA(nn.Module):
    def __init__(self, n_types: int, n_genes: int, cfg: CUCAConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = ViTEncoder(cfg)
        self.projector = ProjectionHead(self.encoder.dim, cfg.hidden_dim, cfg.proj_dim, cfg.dropout)
        self.head = nn.Linear(cfg.proj_dim, n_types)
        if cfg.uses_expression:
            self.molecule = MoleculeEncoder(n_genes, cfg.molecule_dims, cfg.proj_dim, cfg.dropout)
            self.decoder = GeneDecoder(cfg.proj_dim, n_genes, cfg.dropout)

    @property
    def prefix_frozen(self) -> bool:
        return self.encoder.prefix_frozen

    def prefix(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder.prefix(images)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Abundances from the image alone (images, or prefix tokens)."""
        return self.head(self.projector(self.encoder(x)))

    def forward(self, x: torch.Tensor, genes: torch.Tensor, abundance: torch.Tensor) -> dict[str, torch.Tensor]:
        z_img = self.projector(self.encoder(x))
        pred = self.head(z_img)
        out = {"main": rmse(pred, abundance)}
        loss = self.cfg.w_main * out["main"]
        if self.cfg.uses_expression:
            z_mol = self.molecule(genes)
            out["reconstruction"] = rmse(self.decoder(z_mol), genes)
            out["alignment"] = rmse(z_img, z_mol)
            loss = loss + self.cfg.w_rec * out["reconstruction"] + self.cfg.w_align * out["alignment"]
        return {"loss": loss, **out, "prediction": pred}


class LinearProbe(nn.Module):
    """The LinearProbing baseline: frozen encoder features -> a linear map fitted by ridge
    regression (``fit_ridge``), standardisation folded into the weights."""

    def __init__(self, n_types: int, cfg: CUCAConfig):
        super().__init__()
        self.encoder = ViTEncoder(CUCAConfig(encoder=cfg.encoder, preset=cfg.preset, finetune="frozen"))
        self.head = nn.Linear(self.encoder.dim, n_types)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))
