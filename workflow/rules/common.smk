import os
import re
import sys
from pathlib import Path

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

from stpath.checks import check_config, check_schema, check_sheet_schema
from stpath.config import Stages, converted_reference, run_label, stain_target
from stpath.demo.cohort import job_params as demo_job_params, write_cohort_sheet
from stpath.ingest.download import pending_archives, pending_downloads
from stpath.ingest.folds import (
    FoldSettings,
    plan_folds,
    training_samples,
    validation_samples,
)
from stpath.ingest.sheet import input_files, read_sheet, to_sample
from stpath.bundles import read_bundle
from stpath.logs import print_job_warnings
from stpath.models import registry
from stpath.wsi.scale import RunScales
from stpath import targets

# ---- validation ----------------------------------------------------------------------------------
# Our own messages first (key, problem, fix in a few lines); Snakemake's validate then fills the
# schema defaults.
CONFIG_SCHEMA = f"{workflow.basedir}/workflow/schemas/config.schema.yaml"
SAMPLES_SCHEMA = f"{workflow.basedir}/workflow/schemas/samples.schema.yaml"
check_schema(config, CONFIG_SCHEMA, ", ".join(map(str, workflow.configfiles)) or None)
validate(config, schema="../schemas/config.schema.yaml")
write_cohort_sheet(config, ", ".join(map(str, workflow.configfiles)) or None)
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
STAIN_TARGET = stain_target(config, STAGES, OUT)
# what tiles and patches are cut at (one folder per extra scale)
SCALES = RunScales.from_config(config)
DECON = config["deconvolution"]
REFERENCE = DECON["reference"]
SIGNATURES_GIVEN = bool(REFERENCE["signatures"])
EXPR = config["expression_models"]
CELL = config["cell_type_models"]
PUBLISHED = config["published_deconvolution"]
PUBLISHED_MAP_SAMPLE = PUBLISHED["map_sample"] or next(
    iter(STAGES.samples_with_expression), ""
)
PUBLISHED_MAP_TIER = PUBLISHED["map_tier"] or next(iter(STAGES.published_tiers), "")
# Bundles of another run applied here (their manifests are read once; check_config checked them).
APPLIED = {b.name: b for b in map(read_bundle, STAGES.bundles)}
# The fold table is a pure function of the sheet and config (rule `folds` writes the same one),
# so the per-fold jobs are known when the DAG is built.
FOLD_TABLE = (
    plan_folds(
        SHEET.loc[STAGES.labelled_slides].reset_index(drop=True),
        FoldSettings.from_config(config["folds"]),
    )
    if STAGES.expression_models or STAGES.cell_type_models
    else None
)
FOLDS = sorted(FOLD_TABLE["fold"].unique()) if FOLD_TABLE is not None else []
# the slides a fold tests: predicted, scored and mapped (a split table may leave some untested)
STAGES = STAGES.with_folds(FOLD_TABLE)


def split_samples(split):
    """The slides a training run ({split}: fold<k> or final) reads (train and validation)."""
    return training_samples(FOLD_TABLE, split, STAGES.labelled_slides)


def split_validation_samples(split, branch):
    """The slides a training run of ``branch`` selects on (its ``train.selection``); empty: an
    in-slide split."""
    return validation_samples(FOLD_TABLE, split, config[branch]["train"]["selection"])


# ---- wildcard constraints ------------------------------------------------------------------------
wildcard_constraints:
    sample=targets.name_pattern(SAMPLES, "NO_SAMPLES"),
    fold=r"\d+",
    split=r"fold\d+|final",
    bundle="|".join(map(re.escape, APPLIED)) or "NO_BUNDLES",
    model=registry.WILDCARD.format("|".join(registry.MODELS)),
    tier="|".join(map(re.escape, STAGES.published_tiers)) or "NO_TIERS",
    scale="|".join(map(re.escape, SCALES.by_key())) or "NO_SCALES",


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


def thumbnail_path(sample):
    """The tile file holds the slide's thumbnail; samples without a slide get plain maps."""
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
        f"tier_{tier}": [
            published_table(tier, s) for s in STAGES.samples_with_expression
        ]
        for tier in STAGES.published_tiers
    }


def truth_files(wildcards, samples=None):
    """True abundance tables (the demo) of ``samples`` (default: all with expression), else none."""
    if not DECON["truth"]:
        return []
    return [
        data_path(DECON["truth"].format(sample=s))
        for s in samples or STAGES.samples_with_expression
    ]


def model_settings(wildcards):
    """The config section of {model}'s branch: its typed settings, built in the job."""
    return config[registry.section(wildcards.model)]


def model_scale(wildcards):
    """The scale {model}'s branch learns from (a dict, for params)."""
    return SCALES.patches_of(registry.section(wildcards.model)).as_dict()


def branch_io(stage, wildcards):
    """What a lifecycle ``stage`` of {model} depends on beyond its checkpoints and genes, and the
    section files it reads through an index (stpath.targets.lifecycle_io)."""
    samples = (
        split_samples(wildcards.split) if stage == "train" else STAGES.labelled_slides
    )
    section = registry.section(wildcards.model)
    labels = CELL["labels"]
    return targets.lifecycle_io(
        OUT,
        SCALES,
        stage,
        section,
        samples,
        lambda some: targets.label_files(OUT, labels, some),
        lambda some: targets.label_inputs(OUT, labels, some),
    )


def branch_inputs(stage):
    return lambda wildcards: branch_io(stage, wildcards)[0]


def branch_files(stage):
    """params.files (stpath.manifest.job_files puts them with the inputs)."""
    return lambda wildcards: branch_io(stage, wildcards)[1]


def whole_slide_tiles(wildcards):
    """The index of the tiles {model}'s branch maps every whole slide on."""
    return targets.section_index(OUT, f"tiles_{registry.section(wildcards.model)}")


def fold_checkpoints(wildcards):
    """The checkpoint of each fold of {model}, in FOLDS order."""
    return expand(f"{OUT}/models/{wildcards.model}/fold{{f}}/best.pt", f=FOLDS)


def final_checkpoint(wildcards):
    """The final model's checkpoint when image-only slides need it."""
    return f"{OUT}/models/{wildcards.model}/final/best.pt" if STAGES.image_only else []
