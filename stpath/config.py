"""Cross-checks of a whole config (after schema validation), run once before any job: what the
schema cannot see because it spans keys, the sample sheet and files. Each failure names the keys
or the file and the fix. Imports no torch: the workflow runs it when it parses the Snakefile.

Also decides which stages a config runs (``Stages``), so that the workflow and these checks agree."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import anndata
import jsonschema
import numpy as np
import pandas as pd
import yaml

from .bundles import check_applicable, read_bundle
from .deconvolution.published import PublishedSettings, check_published
from .errors import InputError
from .ingest.download import pending_downloads
from .ingest.folds import FoldSettings, check_fold_scheme, plan_folds
from .ingest.preflight import CutLimits, check_samples
from .ingest.readers import FORMATS
from .ingest.sheet import IMAGE_ONLY, check_inputs_exist, input_files, read_sheet, to_sample
from .models import registry
from .models.presets import PRESETS
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


def check_schema(data: dict, schema_path: str | Path, file: str | Path, what: str = "config key") -> None:
    """Validate ``data`` against a JSON schema; on failure, one short message that names the key,
    what is wrong and the fix (the schema's own dump would bury them under hundreds of lines)."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is None:
        return
    path = list(error.absolute_path)
    key = ".".join(str(p) for p in path) or "(top level)"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        name = ".".join(str(p) for p in [*path, unknown[0]]) if unknown else key
        problem = f"unknown {what} {name!r}"
        fix = f"remove it or correct its spelling; the keys allowed {'under ' + key if path else 'at the top level'} are {allowed}"
    else:
        problem = f"{what} {key!r}: {error.message}"
        described = error.schema.get("description") or (
            error.parent.schema.get("description") if error.parent else None
        )
        fix = f"correct {key} ({described})" if described else f"correct {key}"
    raise InputError(file, problem, f"{fix}; every key, its type and default are in {schema_path}")


def check_sheet_schema(sheet: pd.DataFrame, schema_path: str | Path, sheet_path: str | Path) -> None:
    for _, row in sheet.iterrows():
        check_schema(row.to_dict(), schema_path, sheet_path, f"sample {row['sample']!r}: column")


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


def check_config(config: dict, sheet: pd.DataFrame | None = None, inspect_inputs: bool = True) -> None:
    """Raise ``InputError`` on the first inconsistency of ``config`` (schema-validated, defaults
    filled) with itself, its sample sheet (read from config["samples"] unless given) or the files.
    ``inspect_inputs`` runs every sample's pre-flight (files open, headers, coordinates, pixel
    size); a job re-reading the workflow on a cluster node skips it, its ingest job did it."""
    run = RunSettings.from_config(config)
    sheet = read_sheet(run.samples) if sheet is None else sheet
    made = made_by_workflow(config)
    samples = [to_sample(row, run.data_root) for _, row in sheet.iterrows()]
    check_inputs_exist(samples, run.samples, made)
    if inspect_inputs:
        limits = CutLimits.of(run.scales, run.max_upsampling)
        check_samples(samples, made, run.pixel_size_tolerance, limits)
    stages = Stages.of(run, sheet)
    if stages.image_models:  # only the image models need folds
        check_folds(sheet.loc[stages.labelled_slides], run.folds, run.samples, run.data_root)
    check_image_only_predicted(run, stages)
    if stages.deconvolution:
        check_deconvolution_inputs(run, made)
    check_label_source(run, stages)
    if stages.published_tiers:
        check_published_inputs(run, samples, made, inspect_inputs)
    if stages.expression_models:
        check_encoder_weights(run, "expression_models")
        check_input_size(run, "expression_models")
    if registry.with_frozen_encoder(stages.expression_models):
        check_frozen_encoder(run)
    if stages.cell_type_models:
        check_finetuning(run, load_schema())
        check_encoder_weights(run, "cell_type_models")
        check_input_size(run, "cell_type_models")
    if stages.bundles:
        check_bundles(run)
    check_stain_normalisation(run, stages)
    check_compared_runs(run)


def check_image_only_predicted(run: RunSettings, stages: Stages) -> None:
    """Image-only slides are predicted: by a whole-slide model trained to the end, or by bundles."""
    if (
        stages.image_only
        and stages.image_models
        and not (stages.whole_slide_expression or stages.whole_slide_cell_types or stages.bundles)
    ):
        listed = {b: run.branch(b)["whole_slide"] for b in registry.SECTIONS.values()}
        raise InputError(
            run.samples,
            f"the image-only samples {stages.image_only} would be tiled and never predicted: no model of this run is in a "
            f"whole_slide list (models {stages.image_models}; whole_slide {listed})",
            f"add the models that should predict them to expression_models.whole_slide or cell_type_models.whole_slide "
            f"(e.g. whole_slide: [{stages.image_models[0]}]), or drop the image-only rows",
        )
    if (
        stages.image_only
        and (stages.whole_slide_expression or stages.whole_slide_cell_types)
        and not stages.final_models
    ):
        raise InputError(
            run.samples,
            f"the image-only samples {stages.image_only} are predicted by the final models, but training.final_models is false",
            "set training.final_models: true in the config, or apply bundles of another run (apply.bundles) with the image models off",
        )


def check_compared_runs(run: RunSettings) -> None:
    """Every run the report sets beside this one has its metric table."""
    for label, path in run.compare_runs.items():
        if not Path(path).is_file():
            raise InputError(
                path,
                f"report.compare_runs: the metric table of run {label!r} is not there",
                "run that config first (its results/{dataset}/metrics/expression_summary.tsv), correct the path (relative to the working directory), or remove the entry",
            )


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


def check_stain_normalisation(run: RunSettings, stages: Stages) -> None:
    """The target is a slide of this run, or a fit file of the same method."""
    norm = run.stain
    if not norm.active or not norm.target:
        return
    if norm.target_is_file:
        if not Path(norm.target).exists():
            raise InputError(
                norm.target,
                "stain_normalisation.target: stain fit file not found",
                "point it at a stain/{sample}.json of another run or a bundle's stain_target.json, or name a sample of this run's sheet",
            )
        fit = read_stain_fit(norm.target)
        if fit.method != norm.method:
            raise InputError(
                norm.target,
                f"a {fit.method} fit, but stain_normalisation.method is {norm.method}",
                f"set stain_normalisation.method: {fit.method}, or point the target at a {norm.method} fit",
            )
    elif norm.target not in stages.samples_with_slide:
        raise InputError(
            run.samples,
            f"stain_normalisation.target {norm.target!r} is not a sample with a slide in this sheet",
            f'set it to one of {stages.samples_with_slide[:5]}, to a stain fit file (.json), or to "" for the first slide',
        )


def check_folds(sheet: pd.DataFrame, folds: FoldSettings, sheet_path, data_root=None) -> None:
    """The scheme is possible with the labelled slides, and the folds it makes are valid (a split
    table read and checked; validation patients that leave every fold a training patient)."""
    if folds.scheme != "table":
        check_fold_scheme(sheet, folds.scheme, sheet_path)
    try:
        plan_folds(sheet.reset_index(drop=True), folds, data_root)
    except InputError:
        raise  # the split table's own message and fix
    except ValueError as exc:
        raise InputError(sheet_path, str(exc), "lower folds.n_val_patients, or add patients") from None


def check_bundles(run: RunSettings) -> None:
    """Every bundle of apply.bundles is complete, was made for tiles like this run's, and predicts
    the genes asked for; no two share a name."""
    stain = run_stain(run)
    names: dict[str, str] = {}
    for folder in run.bundles:
        bundle = read_bundle(folder)
        check_applicable(bundle, run.scales.tiles, stain, list(run.apply_genes))
        if bundle.name in names:
            raise InputError(
                folder,
                f"apply.bundles lists two bundles named {bundle.name!r} ({names[bundle.name]} and {folder})",
                "list each bundle once",
            )
        names[bundle.name] = folder


def check_deconvolution_inputs(run: RunSettings, made) -> None:
    reference = run.reference
    given = (
        [reference.signatures] if reference.signatures else [reference.path, reference.labels, reference.convert_from]
    )
    for rel in filter(None, given):
        path = Path(run.data_root) / rel
        if not path.exists() and not made(path):
            raise InputError(
                path,
                "deconvolution input not found",
                "correct deconvolution.reference in the config (paths are relative to data_root)",
            )


def check_label_source(run: RunSettings, stages: Stages) -> None:
    """Labels from a published table name one of its tiers."""
    labels, cells = run.cell_types["labels"], run.cell_types["models"]
    if labels["source"] != "published" or not cells or not stages.labelled_slides:
        return
    tiers = list(run.published.tiers)
    if labels["tier"] not in tiers:
        raise InputError(
            None,
            f"cell_type_models.labels: source published, tier {labels['tier']!r}, but published_deconvolution.tiers has {tiers or 'none'}",
            f"set cell_type_models.labels.tier to one of {tiers}"
            if tiers
            else "add the published tables under published_deconvolution.tiers (see config/her2st.yaml), or set labels.source: cell2location",
        )


def spots_under_tissue(positions) -> pd.Index:
    """The spot ids a sample is analysed with: Visium lists its whole array, of which only the spots
    under tissue (``in_tissue``) are kept by ingest."""
    ids = pd.Index(positions.ids)
    return ids if positions.in_tissue is None else ids[np.asarray(positions.in_tissue, bool)]


def check_published_inputs(run: RunSettings, samples, made, inspect_inputs: bool = True) -> None:
    """Every published table is there (or downloaded by the workflow); when all are, each is read
    and checked against its sample's spots, the other samples' tables and the label map."""
    settings = run.published
    with_expression = [s for s in samples if s.expression is not None]
    for tier in settings.tiers.values():
        paths = {s.sample: tier.path(run.data_root, s.sample) for s in with_expression}
        for path in paths.values():
            if not path.exists() and not made(path):
                raise InputError(
                    path,
                    f"published table of tier {tier.name!r} not found",
                    f"correct published_deconvolution.tiers.{tier.name}.table (a path pattern under data_root with {{sample}}), or add a download entry for it",
                )
        if (
            not inspect_inputs
            or any(not p.exists() for p in paths.values())
            or any(made(f) and not f.exists() for s in with_expression for f in input_files(s))
        ):
            continue
        spots = {
            s.sample: spots_under_tissue(FORMATS[s.format].positions(s.expression, s.spots)) for s in with_expression
        }
        check_published(tier, paths, spots, run.min_matched_spots, reference_labels(run, tier))
    if settings.map_tier and settings.map_tier not in settings.tiers:
        raise InputError(
            None,
            f"published_deconvolution.map_tier {settings.map_tier!r} is not a tier",
            f'set it to one of {list(settings.tiers)} or ""',
        )
    if settings.map_sample and settings.map_sample not in {s.sample for s in with_expression}:
        raise InputError(
            run.samples,
            f"published_deconvolution.map_sample {settings.map_sample!r} is not a sample with expression",
            'name a sample of the sheet, or "" for the first',
        )


def reference_labels(run: RunSettings, tier) -> list[str] | None:
    """The labels of the reference's column the tier's label map starts from, when the reference
    is there now (None: signatures only, or the workflow converts it first; the check job sees it)."""
    reference = run.reference
    if not reference.path or reference.signatures:
        return None
    path = Path(run.data_root) / reference.path
    if not path.exists() or path.suffix != ".h5ad":
        return None
    column = tier.label_column or reference.label_column
    obs = anndata.read_h5ad(path, backed="r").obs
    if column not in obs:
        raise InputError(
            path,
            f"published_deconvolution.tiers.{tier.name}.label_column {column!r} is not a column of the reference (it has {list(obs.columns)})",
            "name a column of the reference's cell metadata",
        )
    return list(obs[column].astype(str).unique())


PRESET_OVERRIDES = ("name", "img_size", "patch_size", "embed_dim", "depth", "num_heads")
CONFIG_SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def load_schema() -> dict:
    """The workflow's config schema (its defaults)."""
    return yaml.safe_load(CONFIG_SCHEMA.read_text())


def check_finetuning(run: RunSettings, schema: dict | None = None) -> None:
    """A frozen or LoRA encoder has its pretrained weights; encoder sizes are not given where a
    preset overrides them (``schema``: the config schema, for its defaults)."""
    cells = run.cell_types
    if cells["preset"] and schema is not None:
        defaults = schema["properties"]["cell_type_models"]["properties"]["encoder"]["properties"]
        given = {
            k: cells["encoder"][k]
            for k in PRESET_OVERRIDES
            if cells["encoder"].get(k, defaults[k]["default"]) != defaults[k]["default"]
        }
        if given:
            raise InputError(
                None,
                f"cell_type_models.encoder sets {given}, which preset {cells['preset']!r} overrides: its architecture is built, not these sizes",
                'for the preset, leave those encoder keys out; for an encoder of these sizes, set cell_type_models.preset: ""',
            )
    if cells["finetune"] != "full" and not cells["encoder"]["weights"]:
        preset = (
            f" and preset: \"\" with the encoder's sizes (else the preset's {cells['preset']} is trained from scratch)"
            if cells["preset"]
            else ""
        )
        raise InputError(
            None,
            f"cell_type_models.finetune: {cells['finetune']} keeps the encoder frozen, but no pretrained weights are given",
            "set cell_type_models.encoder.weights to the local weight file of the encoder (e.g. Virchow2's "
            f"pytorch_model.bin), or finetune: full{preset} to train one",
        )


def check_encoder_weights(run: RunSettings, branch: str) -> None:
    weights = run.branch(branch)["encoder"]["weights"]
    if weights and not Path(weights).exists():
        raise InputError(
            weights,
            "encoder weight file not found",
            f"download the encoder's weights once (e.g. huggingface paige-ai/Virchow2) and point {branch}.encoder.weights at the file",
        )


def check_frozen_encoder(run: RunSettings) -> None:
    """The frozen encoder's weight file exists and its input is the patches' size."""
    expr, scales = run.expression, run.scales
    frozen = expr["frozen"]
    if frozen["weights"] and not Path(frozen["weights"]).exists():
        raise InputError(
            frozen["weights"],
            "frozen encoder weight file not found",
            "download the encoder's weights once (e.g. MahmoodLab/UNI's pytorch_model.bin) and point expression_models.frozen.weights at the file",
        )
    section = {
        "preset": frozen["preset"],
        "encoder": {**expr["encoder"], "name": frozen["name"] or expr["encoder"]["name"]},
    }
    size, key = encoder_input(section)
    px, where = scales.patches_of("expression_models").px, patches_key(scales, "expression_models")
    if size is not None and size != px:
        raise InputError(
            None,
            f"{where}.px is {px} px but the frozen encoder (expression_models.frozen, {key}) takes {size} px inputs",
            f"set {where}.px to {size}, or choose a frozen encoder of {px} px",
        )


def encoder_input(section: dict) -> tuple[int | None, str]:
    """The input size (px) the branch's image encoder takes, and the config key that sets it; None
    when the encoder takes any size."""
    preset = section.get("preset", "")
    if preset:
        return PRESETS[preset]["img_size"], f"preset {preset!r}"
    encoder = section["encoder"]
    if not encoder["name"]:
        return encoder["img_size"], "encoder.img_size"
    return timm_fixed_input(encoder["name"]), f"encoder.name {encoder['name']!r}"


def timm_fixed_input(name: str) -> int | None:
    """The input size of a timm architecture that accepts only one (ViTs without dynamic size),
    from timm's pretrained config; None for any size, or when timm is not importable here."""
    try:
        import timm
    except ImportError:
        return None
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None or not getattr(cfg, "fixed_input_size", False):
        return None
    return int(cfg.input_size[-1])


def patches_key(scales: RunScales, branch: str) -> str:
    """The config section that sets a branch's patch scale."""
    return f"{branch}.patches" if branch in scales.branches else "patches"


def check_input_size(run: RunSettings, branch: str) -> None:
    """The models learn from spot patches: a patch must be what the encoder takes."""
    scales = run.scales
    size, key = encoder_input(run.branch(branch))
    px, where = scales.patches_of(branch).px, patches_key(scales, branch)
    if size is not None and size != px:
        raise InputError(
            None,
            f"{where}.px is {px} px but the {branch} encoder ({branch}.{key}) takes {size} px inputs",
            f"set {where}.px to {size} (and {where}.um_per_px to keep its field of view), or choose an encoder of {px} px",
        )


def run_label(config: "dict | RunSettings") -> str:
    """A run's name and stain options, for figures (e.g. demo, Macenko, HED jitter 0.05)."""
    run = typed(config)
    parts = [run.dataset]
    if run.stain.method != "none":
        parts.append(run.stain.method.capitalize())
    parts += [f"{k} jitter {v:g}" for k, v in run.stain_jitter.items() if v]
    return ", ".join(parts)
