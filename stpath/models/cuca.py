"""CUCA (Yan et al., Bioinformatics 2025): cell-type abundances per spot from the H&E patch.

Image encoder (a timm ViT; LoRA on the last blocks, or fully trained from scratch) -> morphology
embedding (CLS concatenated with the mean of the patch tokens) -> projection head -> linear
abundance head. A training-only molecule branch encodes the spot's top-expressed genes, is decoded
back to them, and its embedding is pulled towards the image embedding:

    L = w_main * RMSE(abundance) + w_rec * RMSE(gene reconstruction) + w_align * RMSE(z_img, z_mol)

The image-only ablation sets w_rec = w_align = 0 (the molecule branch is then not built). The
LinearProbing baseline is a linear map on the frozen encoder's features.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from .encoders import EncoderConfig, LoraSettings, ViTEncoder
from .layers import mlp
from .losses import rmse


@dataclass(frozen=True)
class CUCAConfig:
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    preset: str = "virchow2"  # "virchow2" | "uni" | "" (encoder settings as given); the paper's: virchow2
    finetune: str = "lora"  # "lora" (frozen backbone + LoRA; the paper's), "frozen" (heads only), "full"
    lora: LoraSettings = field(default_factory=LoraSettings)
    hidden_dim: int = 512
    proj_dim: int = 512
    molecule_dims: tuple[int, ...] = (1024, 1024)
    dropout: float = 0.25
    w_main: float = 0.3
    w_rec: float = 0.6
    w_align: float = 0.1

    @classmethod
    def from_config(cls, section: dict) -> "CUCAConfig":
        """From the cell_type_models section: its encoder, preset, finetune and cuca keys."""
        cuca = dict(section["cuca"])
        lora = LoraSettings(**cuca.pop("lora", {}))
        cuca["molecule_dims"] = tuple(cuca.get("molecule_dims", (1024, 1024)))
        return cls(
            encoder=EncoderConfig(**section["encoder"]),
            preset=section["preset"],
            finetune=section["finetune"],
            lora=lora,
            **cuca,
        )

    @property
    def uses_expression(self) -> bool:
        return self.w_rec > 0 or self.w_align > 0

    def encoder_module(self, finetune: str | None = None) -> ViTEncoder:
        return ViTEncoder(self.encoder, self.preset, finetune or self.finetune, self.lora)


class MorphologyProjection(nn.Module):
    """Linear -> BN -> ReLU -> Dropout (twice) -> Linear -> BN -> ReLU: the morphology embedding."""

    def __init__(self, in_dim: int, hidden_dim: int = 512, out_dim: int = 512, dropout: float = 0.25):
        super().__init__()
        self.net = mlp([in_dim, hidden_dim, hidden_dim, out_dim], dropout, norm=True, last_act=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MoleculeEncoder(nn.Module):
    """The 'SNN' branch: genes -> 1024 -> 1024 (ReLU, Dropout) -> 512, Xavier-normal init."""

    def __init__(self, n_genes: int, hidden: tuple[int, ...], out_dim: int, dropout: float = 0.25):
        super().__init__()
        self.net = mlp([n_genes, *hidden, out_dim], dropout, norm=False, last_act=False)
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
        self.net = mlp([in_dim, in_dim, n_genes], dropout, norm=False, last_act=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class ImageBranch(nn.Module):
    """Encoder -> projector -> linear head: the image path CUCA and its image-only ablation share
    (the frozen-prefix hooks the training loop uses included)."""

    def __init__(self, cfg: CUCAConfig, projector: Callable[[int], nn.Module], n_types: int):
        super().__init__()
        self.encoder = cfg.encoder_module()
        self.projector = projector(self.encoder.dim)
        self.head = nn.Linear(cfg.proj_dim, n_types)

    @property
    def prefix_frozen(self) -> bool:
        return self.encoder.prefix_frozen

    def prefix(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder.prefix(images)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Abundances from the image alone (images, or prefix tokens)."""
        return self.head(self.projector(self.encoder(x)))


class CUCA(ImageBranch):
    def __init__(self, n_types: int, n_genes: int, cfg: CUCAConfig):
        super().__init__(cfg, lambda dim: MorphologyProjection(dim, cfg.hidden_dim, cfg.proj_dim, cfg.dropout), n_types)
        self.cfg = cfg
        if cfg.uses_expression:
            self.molecule = MoleculeEncoder(n_genes, cfg.molecule_dims, cfg.proj_dim, cfg.dropout)
            self.decoder = GeneDecoder(cfg.proj_dim, n_genes, cfg.dropout)

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


class ImageOnlyMLP(ImageBranch):
    """The released image-only ablation (FMMLP): CUCA's encoder (same fine-tuning), an MLP
    projector without batch norm and without a final activation, a linear head, trained on the
    abundance RMSE alone at weight 1. No molecule branch."""

    def __init__(self, n_types: int, cfg: CUCAConfig):
        super().__init__(
            cfg,
            lambda dim: mlp(
                [dim, cfg.hidden_dim, cfg.hidden_dim, cfg.proj_dim], cfg.dropout, norm=False, last_act=False
            ),
            n_types,
        )

    def forward(self, x: torch.Tensor, genes: torch.Tensor, abundance: torch.Tensor) -> dict[str, torch.Tensor]:
        pred = self.predict(x)
        main = rmse(pred, abundance)
        return {"loss": main, "main": main, "prediction": pred}


class FrozenFeatureHead(nn.Module):
    """A linear map from the frozen encoder's features (CLS + mean patch token) to the abundances:
    the LinearProbing baselines. The encoder's whole output is a frozen prefix, computed once."""

    def __init__(self, n_types: int, cfg: CUCAConfig):
        super().__init__()
        self.encoder = cfg.encoder_module(finetune="frozen")
        self.head = nn.Linear(self.encoder.dim, n_types)

    @property
    def prefix_frozen(self) -> bool:
        return True

    def prefix(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder.prefix(images)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))

    def forward(self, x: torch.Tensor, genes: torch.Tensor, abundance: torch.Tensor) -> dict[str, torch.Tensor]:
        """The released LinearProbing: trained like CUCA, on the main RMSE alone."""
        pred = self.predict(x)
        main = rmse(pred, abundance)
        return {"loss": main, "main": main, "prediction": pred}


def build(settings, n_genes: int, n_outputs: int, **variant) -> CUCA:
    """Registry builder: CUCA on ``settings.cuca`` with the variant's overrides
    (``cuca_no_molecule`` turns the molecule branch's loss weights to 0: CUCA's own architecture
    and loss scale without the molecule branch, which isolates what the branch adds; the released
    image-only ablation is ``build_image_only``)."""
    return CUCA(n_outputs, n_genes, replace(settings.cuca, **variant))


def build_image_only(settings, n_genes: int, n_outputs: int) -> ImageOnlyMLP:
    """The released image-only ablation (FMMLP) on ``settings.cuca``'s encoder and widths."""
    return ImageOnlyMLP(n_outputs, settings.cuca)


def build_probe(settings, n_genes: int, n_outputs: int) -> FrozenFeatureHead:
    """The linear probe (trained by the loop, as released) and the ridge probe (its head fitted in
    closed form by ``celltypes.probe``) share this model."""
    return FrozenFeatureHead(n_outputs, settings.cuca)
