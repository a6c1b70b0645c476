"""Cross-checks of a whole config (after schema validation), run once before any job: what the
schema cannot see because it spans keys, the sample sheet and files, and the schema's own
messages in a few lines. Each failure names the keys or the file and the fix. Imports no torch:
the workflow runs it when it parses the Snakefile (``check_config``, once, from common.smk)."""

from __future__ import annotations

from pathlib import Path

import anndata
import jsonschema
import pandas as pd
import yaml

from .bundles import check_applicable, read_bundle
from .config import RunSettings, Stages, load_schema, made_by_workflow, run_stain
from .deconvolution.published import check_published
from .encoder_checks import check_encoder_weights, check_finetuning, check_frozen_encoder, check_input_size
from .errors import InputError
from .ingest.folds import FoldSettings, check_fold_scheme, plan_folds
from .ingest.preflight import CutLimits, check_samples
from .ingest.readers import FORMATS
from .ingest.sheet import check_inputs_exist, input_files, read_sheet, to_sample
from .models import registry
from .wsi.stain import read_stain_fit


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
        spots = {s.sample: FORMATS[s.format].positions(s.expression, s.spots).ids_under_tissue for s in with_expression}
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
