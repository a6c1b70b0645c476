"""The cell_type_models config section as typed settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..deconvolution.published import ESTIMATE
from ..models.cuca import CUCAConfig
from ..training.loop import TrainSettings


@dataclass(frozen=True)
class LabelSettings:
    estimate: str = "q05"  # cell2location estimate learnt: q05, q50, q95 or mean
    kind: str = "abundance"  # cells per spot, or their proportions
    source: str = "cell2location"  # this run's deconvolution, or a published table ("published")
    tier: str = ""  # source published: the tier of published_deconvolution learnt

    @property
    def published(self) -> bool:
        return self.source == "published"

    @property
    def name(self) -> str:
        """The labels' name in the metric tables: cell2location_q05, published_minor, ..."""
        return f"published_{self.tier}" if self.published else f"cell2location_{self.estimate}"

    @property
    def stored(self) -> tuple[str, str]:
        """(estimate, kind) of the labels' obsm frame in their file: a published table is a
        proportion whatever ``kind`` says."""
        return (ESTIMATE, "proportion") if self.published else (self.estimate, self.kind)

    @property
    def quantity(self) -> str:
        """What the labels measure, for figure titles."""
        return "proportion" if self.published else self.kind


def cuca_training(**section) -> TrainSettings:
    """CUCA's released training: Adam with a one-cycle schedule, selection on validation r."""
    return TrainSettings.from_config(section, optimizer="adam", schedule="onecycle", select="pearson")


@dataclass(frozen=True)
class CellTypeSettings:
    """Defaults: the paper's settings (as the config schema's)."""

    models: tuple[str, ...] = ("cuca", "cuca_image_only", "linear_probe", "ridge_probe")
    labels: LabelSettings = field(default_factory=LabelSettings)
    gene_set: str = "top_expressed"  # genes.tsv column of the molecule branch's input
    gene_target_sum: float | None = 50_000.0  # its normalisation: counts to this total, log1p (None: the shared median)
    accelerator: str = "auto"
    cuca: CUCAConfig = field(default_factory=CUCAConfig)  # encoder, preset, fine-tuning, heads, loss weights
    train: TrainSettings = field(
        default_factory=lambda: cuca_training(
            epochs=100, batch_size=128, lr=0.002, weight_decay=1e-4, seed=3407, augment=False
        )
    )
    probe_alphas: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)
    whole_slide: tuple[str, ...] = ("cuca",)
    map_types: int = 6

    def describe_encoder(self) -> str:
        """The image encoder in a few words, for figure titles (the demo's is not the paper's)."""
        cuca, lora = self.cuca, self.cuca.lora
        if cuca.preset:
            name = {"virchow2": "Virchow2", "uni": "UNI"}.get(cuca.preset, cuca.preset)
        else:
            name = cuca.encoder.name or f"ViT ({cuca.encoder.depth} blocks, width {cuca.encoder.embed_dim})"
        how = {
            "lora": f"LoRA r {lora.r}, alpha {lora.alpha} on its last {lora.blocks} blocks",
            "frozen": "frozen",
            "full": "trained in full",
        }[cuca.finetune]
        origin = (
            "from " + Path(cuca.encoder.weights).name if cuca.encoder.weights else "from scratch, no pretrained weights"
        )
        paper = "" if (cuca.preset, cuca.finetune) == ("virchow2", "lora") else "; not the paper's Virchow2 + LoRA"
        return f"encoder: {name}, {how}, {origin}{paper}"

    @classmethod
    def from_config(cls, section: dict) -> "CellTypeSettings":
        return cls(
            models=tuple(section["models"]),
            labels=LabelSettings(**section["labels"]),
            gene_set=section["gene_set"],
            gene_target_sum=section["gene_target_sum"],
            accelerator=section["accelerator"],
            cuca=CUCAConfig.from_config(section),
            train=cuca_training(**section["train"]),
            probe_alphas=tuple(section["probe_alphas"]),
            whole_slide=tuple(section["whole_slide"]),
            map_types=section["map_types"],
        )
