"""What a run is: its settings read from the config (``RunSettings``, typed sections) and the
stages it runs on which samples (``Stages``), shared by the workflow and the checks
(``stpath.checks``). Imports no torch: the workflow reads it when it parses the Snakefile."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from .deconvolution.published import PublishedSettings
from .ingest.download import pending_downloads
from .ingest.folds import FoldSettings
from .ingest.sheet import IMAGE_ONLY
from .models import registry
from .wsi.scale import RunScales
from .wsi.stain import StainNormalisation, read_stain_fit


@dataclass(frozen=True)
class Reference:
    """The single-cell reference of cell2location (``deconvolution.reference``): paths under data_root."""

    path: str = ""
    labels: str = ""
    signatures: str = ""  # a signature table instead of a reference
    convert_from: str = ""  # a public atlas's archive the workflow converts into ``path``
    label_column: str = "cell_type"

    @classmethod
    def from_config(cls, section: dict) -> "Reference":
        return cls(**{k: section[k] for k in ("path", "labels", "signatures", "convert_from", "label_column")})

    @property
    def given(self) -> bool:
        return bool(self.signatures or self.path)


@dataclass(frozen=True)
class RunSettings:
    """A validated config (schema defaults filled), typed once: what the cross-checks and the stage
    decisions read. The model branches' sections stay dicts here (their typed settings import
    torch); the sections' checks below name their keys."""

    dataset: str
    samples: str  # the sample sheet
    data_root: str
    demo: bool  # the demo generator makes the inputs under data_root
    pixel_size_tolerance: float
    max_upsampling: float
    min_matched_spots: float
    scales: RunScales
    folds: FoldSettings
    stain: StainNormalisation
    reference: Reference
    published: PublishedSettings
    expression: dict  # expression_models
    cell_types: dict  # cell_type_models
    final_models: bool
    bundles: tuple[str, ...]
    apply_genes: tuple[str, ...]
    compare_runs: dict
    stain_jitter: dict

    @classmethod
    def from_config(cls, config: dict) -> "RunSettings":
        qc = config["qc"]
        return cls(
            dataset=config["dataset"],
            samples=config["samples"],
            data_root=config["data_root"],
            demo=config["demo"]["generate"],
            pixel_size_tolerance=qc["pixel_size_tolerance"],
            max_upsampling=qc["max_upsampling"],
            min_matched_spots=qc["min_matched_spots"],
            scales=RunScales.from_config(config),
            folds=FoldSettings.from_config(config["folds"]),
            stain=StainNormalisation.from_config(config["stain_normalisation"]),
            reference=Reference.from_config(config["deconvolution"]["reference"]),
            published=PublishedSettings.from_config(config["published_deconvolution"]),
            expression=config["expression_models"],
            cell_types=config["cell_type_models"],
            final_models=bool(config["training"]["final_models"]),
            bundles=tuple(config["apply"]["bundles"]),
            apply_genes=tuple(config["apply"]["genes"]),
            compare_runs=dict(config["report"]["compare_runs"]),
            stain_jitter=dict(config["expression_models"]["train"]["stain_jitter"]),
        )

    def branch(self, section: str) -> dict:
        """A model branch's config section by its name (expression_models or cell_type_models)."""
        return {"expression_models": self.expression, "cell_type_models": self.cell_types}[section]


def typed(config: "dict | RunSettings") -> RunSettings:
    return config if isinstance(config, RunSettings) else RunSettings.from_config(config)


@dataclass(frozen=True)
class Stages:
    """What a config runs, and on which samples."""

    samples_with_slide: list[str]  # tiled
    samples_with_expression: list[str]  # gene sets, deconvolution
    labelled_slides: list[str]  # slide and expression: spot patches, folds, training, held-out metrics
    image_only: list[str]  # a slide alone: predicted by the final models, never trained on
    deconvolution: bool  # a reference or a signature table is given
    published_tiers: list[str]  # tiers of published per-spot cell-type tables (published_deconvolution)
    expression_models: list[str]
    cell_type_models: list[str]  # they learn the deconvolution labels: none without a reference
    whole_slide_expression: list[str]
    whole_slide_cell_types: list[str]
    final_models: bool  # each model also trained once on every labelled slide (and bundled)
    bundles: list[str]  # bundles of another run applied to this run's slides
    expression_seeds: list[str] = ()  # seed replicates of the expression models beyond their first seed
    cell_type_seeds: list[str] = ()  # and of the cell-type models (``registry.replicates``)
    held_out: list[str] | None = None  # labelled slides some fold tests (``with_folds``); None: all

    def with_folds(self, folds: pd.DataFrame | None) -> "Stages":
        """These stages with the slides the folds hold out: a split table may train on a slide and
        never test it, and such a slide is neither predicted, scored nor mapped."""
        if folds is None:
            return self
        tested = set(folds.loc[folds["role"] == "test", "sample"])
        return dataclasses.replace(self, held_out=[s for s in self.labelled_slides if s in tested])

    @property
    def tested(self) -> list[str]:
        """The labelled slides predicted by a fold's model, scored and mapped."""
        return self.labelled_slides if self.held_out is None else list(self.held_out)

    @classmethod
    def of(cls, config: "dict | RunSettings", sheet: pd.DataFrame) -> "Stages":
        run = typed(config)
        with_slide = [s for s, slide in zip(sheet["sample"], sheet["slide"]) if slide]
        with_expression = [s for s, e in zip(sheet["sample"], sheet["expression"]) if e]
        labelled = [s for s in with_slide if s in set(with_expression)]
        image_only = [s for s, f in zip(sheet["sample"], sheet["format"]) if f == IMAGE_ONLY]
        deconvolution = run.reference.given and bool(with_expression)
        expression = list(run.expression["models"]) if labelled else []
        cells = run.cell_types
        published = list(run.published.tiers) if with_expression else []
        labels = deconvolution if cells["labels"]["source"] == "cell2location" else cells["labels"]["tier"] in published
        cell_types = list(cells["models"]) if labelled and labels else []
        return cls(
            samples_with_slide=with_slide,
            samples_with_expression=with_expression,
            labelled_slides=labelled,
            image_only=image_only,
            deconvolution=deconvolution,
            published_tiers=published,
            expression_models=expression,
            cell_type_models=cell_types,
            whole_slide_expression=[m for m in run.expression["whole_slide"] if m in expression],
            whole_slide_cell_types=[m for m in cells["whole_slide"] if m in cell_types],
            final_models=run.final_models and bool(expression or cell_types),
            bundles=list(run.bundles),
            expression_seeds=registry.replicates(expression, run.expression["train"])[len(expression) :],
            cell_type_seeds=registry.replicates(cell_types, cells["train"])[len(cell_types) :],
        )

    @property
    def whole_slide_samples(self) -> list[str]:
        """Slides mapped tile by tile: the held-out ones and the image-only ones."""
        return self.tested + self.image_only

    @property
    def published_check(self) -> bool:
        """This run's cell2location is compared with the published tables."""
        return self.deconvolution and bool(self.published_tiers)

    @property
    def image_models(self) -> list[str]:
        return self.expression_models + self.cell_type_models

    @property
    def expression_runs(self) -> list[str]:
        """The expression models and their seed replicates: every run the metrics score."""
        return self.expression_models + list(self.expression_seeds)

    @property
    def cell_type_runs(self) -> list[str]:
        return self.cell_type_models + list(self.cell_type_seeds)


def converted_reference(config: dict) -> dict[str, str]:
    """{reference.path: reference.convert_from} when the workflow converts the single-cell reference
    from a public atlas's archive (rule convert_reference), else {}."""
    reference = config.get("deconvolution", {}).get("reference", {})
    return {reference["path"]: reference["convert_from"]} if reference.get("convert_from") else {}


def made_by_workflow(config: dict):
    """A predicate: True for input paths that the demo generator or a download rule creates."""
    root = Path(config["data_root"])
    made_here = set(pending_downloads(config)) | set(converted_reference(config))

    def made(path) -> bool:
        path = Path(path)
        if config["demo"]["generate"] and root in path.parents:
            return True
        try:
            return str(path.relative_to(root)) in made_here
        except ValueError:
            return False

    return made


def run_stain(run: RunSettings) -> dict:
    """What this run's tiles are normalised to, as a bundle records it (``Bundle.stain``)."""
    norm = run.stain
    if not norm.active:
        return {}
    if norm.target_is_file and Path(norm.target).exists():
        return read_stain_fit(norm.target).record()
    return {"method": norm.method}


def stain_target(config: "dict | RunSettings", stages: Stages, out: str) -> str:
    """The stain fit file every slide's tiles and patches are mapped to; "" when they are not
    normalised. The target is a stain fit file, a sample of the sheet, or the sheet's first slide."""
    norm = typed(config).stain
    if not norm.active or not stages.samples_with_slide:
        return ""
    if norm.target_is_file:
        return norm.target
    return f"{out}/stain/{norm.target or stages.samples_with_slide[0]}.json"


CONFIG_SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def load_schema() -> dict:
    """The workflow's config schema (its defaults)."""
    return yaml.safe_load(CONFIG_SCHEMA.read_text())


def run_label(config: "dict | RunSettings") -> str:
    """A run's name and stain options, for figures (e.g. demo, Macenko, HED jitter 0.05)."""
    run = typed(config)
    parts = [run.dataset]
    if run.stain.method != "none":
        parts.append(run.stain.method.capitalize())
    parts += [f"{k} jitter {v:g}" for k, v in run.stain_jitter.items() if v]
    return ", ".join(parts)
