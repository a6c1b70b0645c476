"""The expression_models config section as typed settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..models.cmrcnet import CMRCNetConfig
from ..models.frozen import FrozenEncoderConfig
from ..training.loop import TrainSettings


@dataclass(frozen=True)
class ExpressionSettings:
    """Defaults: the paper's settings (as the config schema's)."""

    models: tuple[str, ...] = ("cmrcnet", "bleep", "direct")
    gene_set: str = "hvg_union"  # genes.tsv column of the genes the models learn
    retrieval_k: int = 50
    eval_genes: int = 50  # size of the HEG/HVG evaluation sets
    markers: tuple[str, ...] = ()
    whole_slide: tuple[str, ...] = ("cmrcnet",)  # models applied to every tissue tile
    map_genes: tuple[str, ...] = ()  # genes predicted on every tile; empty = markers + eval_genes HVGs
    accelerator: str = "auto"
    cmrcnet: CMRCNetConfig = field(
        default_factory=CMRCNetConfig
    )  # CMRCNet/BLEEP; its encoder is direct regression's too
    train: TrainSettings = field(default_factory=TrainSettings)
    frozen: FrozenEncoderConfig = field(default_factory=FrozenEncoderConfig)  # hest_probe, frozen_retrieval

    @property
    def encoder(self):
        return self.cmrcnet.encoder

    @classmethod
    def from_config(cls, section: dict) -> "ExpressionSettings":
        return cls(
            models=tuple(section["models"]),
            gene_set=section["gene_set"],
            retrieval_k=section["retrieval_k"],
            eval_genes=section["eval_genes"],
            markers=tuple(section["markers"]),
            whole_slide=tuple(section["whole_slide"]),
            map_genes=tuple(section["map_genes"]),
            accelerator=section["accelerator"],
            cmrcnet=CMRCNetConfig.from_config(section),
            train=TrainSettings.from_config(section["train"]),
            frozen=FrozenEncoderConfig.from_config(section["frozen"], section["encoder"]),
        )
