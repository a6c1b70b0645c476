import os
import re
import sys
import time
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# ---- setup ---------------------------------------------------------------------------------------
REPO = Path(workflow.basedir).resolve()
# Rule scripts import the stpath package from the repository, in the plain virtualenv and in
# every per-step conda env alike, with no install step inside the envs.
# (Set here, not required from the user: every job re-reads this file, on a cluster node too.)
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.getenv("PYTHONPATH")) if p)
)
sys.path.insert(0, str(REPO))

from stpath.config import (
    Stages,
    check_config,
    check_schema,
    check_sheet_schema,
    converted_reference,
    run_label,
    stain_target,
)
from stpath.ingest.download import pending_archives, pending_downloads
from stpath.ingest.folds import (
    FoldSettings,
    plan_folds,
    samples_in,
    training_samples,
    validation_samples,
)
from stpath.ingest.sheet import input_files, read_sheet, to_sample
from stpath.bundles import read_bundle
from stpath.logs import job_warnings
from stpath.models import registry

# ---- validation ----------------------------------------------------------------------------------
# Our own messages first (key, problem, fix in a few lines); Snakemake's validate then fills the
# schema defaults.
CONFIG_SCHEMA = f"{workflow.basedir}/workflow/schemas/config.schema.yaml"
SAMPLES_SCHEMA = f"{workflow.basedir}/workflow/schemas/samples.schema.yaml"
check_schema(config, CONFIG_SCHEMA, ", ".join(map(str, workflow.configfiles)) or None)
validate(config, schema="../schemas/config.schema.yaml")
SHEET = read_sheet(config["samples"])
check_sheet_schema(SHEET, SAMPLES_SCHEMA, config["samples"])
validate(SHEET, schema="../schemas/samples.schema.yaml")
check_config(config, SHEET, inspect_inputs=workflow.is_main_process)


# ---- samples and folds ---------------------------------------------------------------------------
DATASET = config["dataset"]
DATA_ROOT = Path(config["data_root"])
OUT = f"results/{DATASET}"
# Only missing files get a producing rule: a rule never claims existing user data as its output.
DOWNLOADS = pending_downloads(config)
ARCHIVES = pending_archives(DOWNLOADS)
CONVERTED_REFERENCE = {
    rel: src
    for rel, src in converted_reference(config).items()
    if not (DATA_ROOT / rel).exists()
}
SAMPLES = {name: to_sample(row, DATA_ROOT) for name, row in SHEET.iterrows()}
STAGES = Stages.of(config, SHEET)
SAMPLES_WITH_SLIDE = STAGES.samples_with_slide
STAIN_TARGET = stain_target(config, STAGES, OUT)
SAMPLES_WITH_EXPRESSION = STAGES.samples_with_expression
LABELLED = STAGES.labelled_slides
IMAGE_ONLY = STAGES.image_only
EXPRESSION_MODELS = STAGES.expression_models
CELL_TYPE_MODELS = STAGES.cell_type_models
WHOLE_SLIDE_EXPRESSION = STAGES.whole_slide_expression
WHOLE_SLIDE_CELL_TYPES = STAGES.whole_slide_cell_types
DECON = config["deconvolution"]
REFERENCE = DECON["reference"]
SIGNATURES_GIVEN = bool(REFERENCE["signatures"])
EXPR = config["expression_models"]
CELL = config["cell_type_models"]
PUBLISHED = config["published_deconvolution"]
PUBLISHED_MAP_SAMPLE = PUBLISHED["map_sample"] or next(
    iter(SAMPLES_WITH_EXPRESSION), ""
)
PUBLISHED_MAP_TIER = PUBLISHED["map_tier"] or next(iter(STAGES.published_tiers), "")
# Bundles of another run applied here (their manifests are read once; check_config checked them).
APPLIED = {b.name: b for b in map(read_bundle, STAGES.bundles)}
# The fold table is a pure function of the sheet and config (rule `folds` writes the same one),
# so the per-fold jobs are known when the DAG is built.
FOLD_TABLE = (
    plan_folds(
        SHEET.loc[LABELLED].reset_index(drop=True),
        FoldSettings.from_config(config["folds"]),
    )
    if EXPRESSION_MODELS or CELL_TYPE_MODELS
    else None
)
FOLDS = sorted(FOLD_TABLE["fold"].unique()) if FOLD_TABLE is not None else []
# A model's training runs: one per fold (they measure), and the final one on every labelled slide
# (it predicts the image-only slides and is bundled).
SPLITS = [f"fold{f}" for f in FOLDS] + (["final"] if STAGES.final_models else [])


def fold_samples(fold, role):
    return samples_in(FOLD_TABLE, fold, role)


def split_samples(split):
    """The slides a training run ({split}: fold<k> or final) reads (train and validation)."""
    return training_samples(FOLD_TABLE, split, LABELLED)


def split_validation_samples(split, branch):
    """The slides a training run of ``branch`` selects on (its ``train.selection``); empty: an
    in-slide split."""
    return validation_samples(FOLD_TABLE, split, config[branch]["train"]["selection"])


# ---- wildcard constraints ------------------------------------------------------------------------
wildcard_constraints:
    sample="|".join(SAMPLES) or "NO_SAMPLES",
    fold=r"\d+",
    split=r"fold\d+|final",
    bundle="|".join(map(re.escape, APPLIED)) or "NO_BUNDLES",
    model="|".join(registry.names(registry.EXPRESSION)),
    cell_model="|".join(registry.names(registry.CELL_TYPES)),
    tier="|".join(map(re.escape, STAGES.published_tiers)) or "NO_TIERS",


# ---- input functions -----------------------------------------------------------------------------
def data_path(relpath):
    return str(DATA_ROOT / relpath)


def archive_of(wildcards):
    """The archive a download entry takes its file from (none for a plain URL)."""
    archive = DOWNLOADS[wildcards.relpath].archive
    return [data_path(archive)] if archive else []


def sample_inputs(wildcards):
    return [str(p) for p in input_files(SAMPLES[wildcards.sample])]


def slide_of(wildcards):
    return str(SAMPLES[wildcards.sample].slide)


def stain_inputs(wildcards):
    """The slide's stain fit and the target's, when tiles and patches are stain-normalised."""
    if not STAIN_TARGET:
        return {}
    return {
        "stain": f"{OUT}/stain/{wildcards.sample}.json",
        "stain_target": STAIN_TARGET,
    }


def bundle_stain_input(wildcards):
    """The stain target a bundle records (its images were normalised to it)."""
    return {"stain_target": STAIN_TARGET} if STAIN_TARGET else {}


def thumbnail_of(wildcards):
    """The tile file holds the slide's thumbnail; samples without a slide get plain maps."""
    return thumbnail_path(wildcards.sample)


def thumbnail_path(sample):
    return [] if SAMPLES[sample].slide is None else f"{OUT}/tiles/{sample}.h5"


def reference_inputs(wildcards):
    return [data_path(p) for p in (REFERENCE["path"], REFERENCE["labels"]) if p]


def reference_cells(wildcards):
    """The converted reference whose cells map this run's types to a published tier's labels."""
    return (
        [data_path(REFERENCE["path"])]
        if REFERENCE["path"] and not SIGNATURES_GIVEN
        else []
    )


def published_table(tier, sample):
    return data_path(PUBLISHED["tiers"][tier]["table"].format(sample=sample))


def published_tables(wildcards):
    """Every published table, one input list per tier (tier_<name>), in sample order."""
    return {
        f"tier_{tier}": [published_table(tier, s) for s in SAMPLES_WITH_EXPRESSION]
        for tier in STAGES.published_tiers
    }


def label_files(samples):
    """The cell-type labels of ``samples``: this run's deconvolution, or a published tier's."""
    if CELL["labels"]["source"] == "published":
        tier = CELL["labels"]["tier"]
        return expand(f"{OUT}/deconvolution/published/{tier}/{{s}}.h5ad", s=samples)
    return expand(f"{OUT}/deconvolution/{{s}}.h5ad", s=samples)


def truth_files(wildcards, samples=None):
    """True abundance tables (the demo) of ``samples`` (default: all with expression), else none."""
    if not DECON["truth"]:
        return []
    return [
        data_path(DECON["truth"].format(sample=s))
        for s in samples or SAMPLES_WITH_EXPRESSION
    ]


def spot_files(samples):
    return {
        "patches": expand(f"{OUT}/patches/{{s}}.h5", s=samples),
        "expression": expand(f"{OUT}/expression/{{s}}.h5ad", s=samples),
    }


def split_training_inputs(wildcards):
    """Patches and expression of the slides a training run learns from (jobs with {split})."""
    return spot_files(split_samples(wildcards.split))


def held_out_inputs(wildcards):
    """Patches and expression of every labelled slide (each is held out by some fold, and all
    are the final model's training spots)."""
    return spot_files(LABELLED)


def fold_checkpoints(wildcards):
    """The checkpoint of each fold of {model} or {cell_model}, in FOLDS order."""
    model = getattr(wildcards, "model", None) or wildcards.cell_model
    return expand(f"{OUT}/models/{model}/fold{{fold}}/best.pt", fold=FOLDS)


def final_checkpoint(wildcards):
    """The final model's checkpoint when image-only slides need it."""
    if not IMAGE_ONLY:
        return []
    model = getattr(wildcards, "model", None) or wildcards.cell_model
    return f"{OUT}/models/{model}/final/best.pt"


def split_label_inputs(wildcards):
    """Cell-type labels of the slides a training run learns from."""
    return label_files(split_samples(wildcards.split))


def cell_type_truth_files(wildcards, samples=None):
    """True abundance tables of the held-out slides (default: all labelled), else none."""
    return truth_files(wildcards, samples or LABELLED)


def whole_slide_samples():
    """Slides mapped tile by tile in this run: the held-out ones and the image-only ones."""
    return LABELLED + IMAGE_ONLY


def summary_parts():
    parts = [f"{OUT}/metrics/expression_summary.tsv"] if EXPRESSION_MODELS else []
    return parts + (
        [f"{OUT}/metrics/cell_types/summary.tsv"] if CELL_TYPE_MODELS else []
    )


def slurm_preflight(jobs):
    from tools.cluster import check_slurm_jobs

    try:
        check_slurm_jobs(jobs)
    except RuntimeError as exc:
        raise WorkflowError(
            f"{exc}\nFix: edit workflow/profiles/slurm/config.yaml as each line says."
        ) from None


# ---- final outputs -------------------------------------------------------------------------------
def deconvolution_outputs():
    if not STAGES.deconvolution:
        return []
    decon = f"{OUT}/deconvolution"
    outs = [f"{decon}/mapping/elbo.png", f"{decon}/mapping/reconstruction.png"]
    outs += [f"{decon}/marker_check.tsv", f"{decon}/marker_check.png"]
    outs += expand(
        [
            f"{decon}/{{sample}}.h5ad",
            f"{decon}/{{sample}}_abundance.tsv",
            f"{decon}/maps/{{sample}}.png",
        ],
        sample=SAMPLES_WITH_EXPRESSION,
    )
    if not SIGNATURES_GIVEN:
        outs.append(f"{decon}/reference/elbo.png")
    if DECON["truth"]:
        outs += [f"{decon}/accuracy.tsv", f"{decon}/accuracy.png"]
    if STAGES.published_check:
        outs += [f"{decon}/published_check.{ext}" for ext in ("tsv", "png")] + [
            f"{decon}/published_check_maps.png"
        ]
    return outs


def trained_model_outputs(models, whole_slide):
    """Every training run's history, the final models' bundles, the whole-slide maps."""
    outs = expand(
        f"{OUT}/models/{{model}}/{{split}}/history.tsv", model=models, split=SPLITS
    )
    if STAGES.final_models:
        outs += expand(f"{OUT}/bundles/{{model}}", model=models)
    outs += expand(
        f"{OUT}/wholeslide/{{model}}/{{sample}}.{{ext}}",
        model=whole_slide,
        sample=whole_slide_samples(),
        ext=["h5ad", "png"],
    )
    return outs


def expression_model_outputs():
    if not EXPRESSION_MODELS:
        return []
    outs = [f"{OUT}/metrics/{t}.tsv" for t in ("summary", "headline", "per_gene")]
    outs += [
        f"{OUT}/metrics/{name}.png"
        for name in ("training_curves", "per_gene_pcc", "summary", "cross_patient")
    ]
    outs += expand(f"{OUT}/metrics/maps/{{sample}}.png", sample=LABELLED)
    return outs + trained_model_outputs(EXPRESSION_MODELS, WHOLE_SLIDE_EXPRESSION)


def cell_type_model_outputs():
    if not CELL_TYPE_MODELS:
        return []
    metrics = f"{OUT}/metrics/cell_types"
    outs = [f"{OUT}/metrics/{t}.tsv" for t in ("summary", "headline")]
    outs.append(f"{metrics}/per_type.tsv")
    outs += [f"{metrics}/pearson.png", f"{metrics}/colocalisation.png"]
    outs += expand(f"{metrics}/maps/{{sample}}.png", sample=LABELLED)
    return outs + trained_model_outputs(CELL_TYPE_MODELS, WHOLE_SLIDE_CELL_TYPES)


def applied_bundle_outputs():
    return expand(
        f"{OUT}/applied/{{bundle}}/{{sample}}.{{ext}}",
        bundle=APPLIED,
        sample=SAMPLES_WITH_SLIDE,
        ext=["h5ad", "png"],
    )


def final_outputs():
    outs = expand(f"{OUT}/ingest/{{sample}}.h5ad", sample=SAMPLES)
    if SAMPLES_WITH_EXPRESSION:
        outs.append(f"{OUT}/expression/genes.tsv")
    if FOLDS:
        outs.append(f"{OUT}/splits/folds.tsv")
    outs += expand(f"{OUT}/tiles/{{sample}}.h5", sample=SAMPLES_WITH_SLIDE)
    outs += expand(
        [f"{OUT}/patches/{{sample}}.h5", f"{OUT}/qc/{{sample}}_tissue_spots.png"],
        sample=LABELLED,
    )
    return (
        outs
        + deconvolution_outputs()
        + expression_model_outputs()
        + cell_type_model_outputs()
        + applied_bundle_outputs()
    )


# ---- the run's console summary -------------------------------------------------------------------
RUN_START = time.time()


def summarise_warnings():
    """Every warning a job of this run logged, on the console (they are otherwise in the logs)."""
    warned = job_warnings(f"logs/{DATASET}", RUN_START)
    if warned:
        print(f"{len(warned)} warning(s) in this run's job logs:", *warned, sep="\n  ")
