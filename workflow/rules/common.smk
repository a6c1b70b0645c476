import re
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

REPO = Path(workflow.basedir).resolve()
# Rule scripts import the stpath package from the repository, in the plain virtualenv and in
# every per-step conda env alike, with no install step inside the envs.
# (Set here, not required from the user: every job re-reads this file, on a cluster node too.)
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.getenv("PYTHONPATH")) if p)
)
import sys

sys.path.insert(0, str(REPO))

from stpath.errors import InputError
from stpath.folds import assign_folds
from stpath.sheet import (
    check_fold_scheme,
    check_inputs_exist,
    input_files,
    read_sheet,
    to_sample,
)

try:
    validate(config, schema="../schemas/config.schema.yaml")
except WorkflowError as exc:
    raise WorkflowError(
        f"{exc}\nFix: correct the key named above in your config file; every key and its type "
        "is listed in workflow/schemas/config.schema.yaml."
    ) from None

DATASET = config["dataset"]
DATA_ROOT = Path(config["data_root"])
# Only files missing now get a download rule: a rule never claims existing user data as its output
# (Snakemake could otherwise decide to re-create it, and delete it if that fails).
DOWNLOADS = {
    relpath: url
    for relpath, url in (config.get("downloads") or {}).items()
    if not (DATA_ROOT / relpath).exists()
}
OUT = f"results/{DATASET}"

SHEET = read_sheet(config["samples"])
try:
    validate(SHEET, schema="../schemas/samples.schema.yaml")
except WorkflowError as exc:
    raise WorkflowError(
        f"{exc}\nFix: correct {config['samples']}; its columns are described in "
        "workflow/schemas/samples.schema.yaml."
    ) from None
SAMPLES = {name: to_sample(row, DATA_ROOT) for name, row in SHEET.iterrows()}
SAMPLES_WITH_SLIDE = [s for s, v in SAMPLES.items() if v.slide is not None]


def made_by_workflow(path):
    """True for inputs that the demo generator or a download rule will create."""
    path = Path(path)
    if config["demo"]["generate"] and DATA_ROOT in path.parents:
        return True
    try:
        return str(path.relative_to(DATA_ROOT)) in DOWNLOADS
    except ValueError:
        return False


check_inputs_exist(SAMPLES.values(), config["samples"], made_by_workflow)
# Folds only matter for the image models, which need slides.
if SAMPLES_WITH_SLIDE:
    check_fold_scheme(SHEET, config["folds"]["scheme"], config["samples"])

DECON = config["deconvolution"]
REFERENCE = DECON["reference"]
SIGNATURES_GIVEN = bool(REFERENCE["signatures"])
DECONVOLUTION = SIGNATURES_GIVEN or bool(REFERENCE["path"])


EXPR = config["expression_models"]
EXPRESSION_MODELS = list(EXPR["models"]) if SAMPLES_WITH_SLIDE else []
CELL = config["cell_type_models"]
# The cell-type models learn the deconvolution stage's labels: no reference, no labels.
CELL_TYPE_MODELS = list(CELL["models"]) if SAMPLES_WITH_SLIDE and DECONVOLUTION else []
# The fold table is a pure function of the sheet and config (rule `folds` writes the same one),
# so the per-fold jobs are known when the DAG is built.
FOLD_TABLE = (
    assign_folds(
        SHEET.loc[SAMPLES_WITH_SLIDE].reset_index(drop=True),
        config["folds"]["scheme"],
        config["folds"]["n_folds"],
        config["folds"]["seed"],
    )
    if EXPRESSION_MODELS or CELL_TYPE_MODELS
    else None
)


def check_whole_slide_scale():
    """Whole-slide inference feeds tiles to a model trained on spot patches: same field of view."""
    tiles, patches = config["tiling"], config["patches"]
    tile_um = tiles["tile_px"] * tiles["target_um_per_px"]
    patch_um = patches["patch_px"] * patches["target_um_per_px"]
    if abs(tile_um - patch_um) > 1e-6 * patch_um:
        raise WorkflowError(
            f"cell_type_models.whole_slide: tiles cover {tile_um:g} um but the spot patches the models "
            f"learn from cover {patch_um:g} um.\nFix: set tiling.tile_px x tiling.target_um_per_px equal "
            "to patches.patch_px x patches.target_um_per_px in the config (or whole_slide: [])."
        )


def check_cell_type_encoder():
    weights, finetune = CELL["encoder"]["weights"], CELL["finetune"]
    if finetune != "full" and not weights:
        raise WorkflowError(
            f"cell_type_models.finetune: {finetune} keeps the encoder frozen, but no pretrained "
            "weights are given.\nFix: set cell_type_models.encoder.weights to the local weight file "
            "of the encoder (e.g. Virchow2's pytorch_model.bin), or finetune: full to train it."
        )
    if weights and not Path(weights).exists():
        raise InputError(
            weights,
            "encoder weight file not found",
            "download the encoder's weights once (e.g. huggingface paige-ai/Virchow2) and point "
            "cell_type_models.encoder.weights at the file",
        )


if CELL_TYPE_MODELS:
    check_cell_type_encoder()


WHOLE_SLIDE_MODELS = [m for m in CELL["whole_slide"] if m in CELL_TYPE_MODELS]
if WHOLE_SLIDE_MODELS:
    check_whole_slide_scale()


def fold_samples(fold, role):
    table = FOLD_TABLE[(FOLD_TABLE["fold"] == int(fold)) & (FOLD_TABLE["role"] == role)]
    return list(table["sample"])


def test_fold(sample):
    table = FOLD_TABLE[
        (FOLD_TABLE["sample"] == sample) & (FOLD_TABLE["role"] == "test")
    ]
    return int(table["fold"].iloc[0])


def fold_training_inputs(wildcards):
    """Patches and expression of a fold's training slides (jobs with a {fold} wildcard)."""
    return training_files(wildcards.fold)


def sample_training_inputs(wildcards):
    """The same for the fold in which {sample} is held out."""
    return training_files(test_fold(wildcards.sample))


def training_files(fold):
    train = fold_samples(fold, "train")
    return {
        "patches": expand(f"{OUT}/patches/{{s}}.h5", s=train),
        "expression": expand(f"{OUT}/expression/{{s}}.h5ad", s=train),
    }


def checkpoint_of(wildcards):
    return f"{OUT}/models/{wildcards.model}/fold{test_fold(wildcards.sample)}/best.pt"


def fold_label_inputs(wildcards):
    """Deconvolution labels of a fold's training slides."""
    train = fold_samples(wildcards.fold, "train")
    return expand(f"{OUT}/deconvolution/{{s}}.h5ad", s=train)


def cell_checkpoint_of(wildcards):
    fold = test_fold(wildcards.sample)
    return f"{OUT}/models/{wildcards.cell_model}/fold{fold}/best.pt"


def cell_type_truth_files(wildcards, samples=None):
    """True abundance tables (the demo) of ``samples`` (default: all with a slide), else none."""
    if not DECON["truth"]:
        return []
    return [
        data_path(DECON["truth"].format(sample=s))
        for s in samples or SAMPLES_WITH_SLIDE
    ]


def summary_parts():
    parts = [f"{OUT}/metrics/expression_summary.tsv"] if EXPRESSION_MODELS else []
    return parts + (
        [f"{OUT}/metrics/cell_types/summary.tsv"] if CELL_TYPE_MODELS else []
    )


def cell_type_model_outputs():
    if not CELL_TYPE_MODELS:
        return []
    folds = sorted(FOLD_TABLE["fold"].unique())
    metrics = f"{OUT}/metrics/cell_types"
    outs = [f"{OUT}/metrics/summary.tsv", f"{metrics}/per_type.tsv"]
    outs += [f"{metrics}/pearson.png", f"{metrics}/colocalisation.png"]
    outs += expand(f"{metrics}/maps/{{sample}}.png", sample=SAMPLES_WITH_SLIDE)
    outs += expand(
        f"{OUT}/models/{{model}}/fold{{fold}}/history.tsv",
        model=CELL_TYPE_MODELS,
        fold=folds,
    )
    outs += expand(
        f"{OUT}/wholeslide/{{model}}/{{sample}}.{{ext}}",
        model=WHOLE_SLIDE_MODELS,
        sample=SAMPLES_WITH_SLIDE,
        ext=["h5ad", "png"],
    )
    return outs


def expression_model_outputs():
    if not EXPRESSION_MODELS:
        return []
    folds = sorted(FOLD_TABLE["fold"].unique())
    outs = [f"{OUT}/metrics/summary.tsv", f"{OUT}/metrics/per_gene.tsv"]
    outs += [
        f"{OUT}/metrics/{name}.png"
        for name in ("training_curves", "per_gene_pcc", "summary")
    ]
    outs += expand(f"{OUT}/metrics/maps/{{sample}}.png", sample=SAMPLES_WITH_SLIDE)
    outs += expand(
        f"{OUT}/models/{{model}}/fold{{fold}}/history.tsv",
        model=EXPRESSION_MODELS,
        fold=folds,
    )
    return outs


def slurm_preflight(jobs):
    from stpath.cluster import check_slurm_jobs

    try:
        check_slurm_jobs(jobs)
    except RuntimeError as exc:
        raise WorkflowError(
            f"{exc}\nFix: edit workflow/profiles/slurm/config.yaml as each line says."
        ) from None


def data_path(relpath):
    return str(DATA_ROOT / relpath)


def check_deconvolution_inputs():
    given = (
        [REFERENCE["signatures"]]
        if SIGNATURES_GIVEN
        else [REFERENCE["path"], REFERENCE["labels"]]
    )
    for rel in filter(None, given):
        path = DATA_ROOT / rel
        if not path.exists() and not made_by_workflow(path):
            raise InputError(
                path,
                "deconvolution input not found",
                "correct deconvolution.reference in the config (paths are relative to data_root)",
            )


if DECONVOLUTION:
    check_deconvolution_inputs()


wildcard_constraints:
    sample="|".join(SAMPLES) or "NO_SAMPLES",


def sample_inputs(wildcards):
    return [str(p) for p in input_files(SAMPLES[wildcards.sample])]


def slide_of(wildcards):
    return str(SAMPLES[wildcards.sample].slide)


def reference_inputs(wildcards):
    return [data_path(p) for p in (REFERENCE["path"], REFERENCE["labels"]) if p]


def truth_files(wildcards):
    return [data_path(DECON["truth"].format(sample=s)) for s in SAMPLES]


def thumbnail_of(wildcards):
    """The tile file holds the slide's thumbnail; samples without a slide get plain maps."""
    if SAMPLES[wildcards.sample].slide is None:
        return []
    return f"{OUT}/tiles/{wildcards.sample}.h5"


def deconvolution_outputs():
    if not DECONVOLUTION:
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
        sample=SAMPLES,
    )
    if not SIGNATURES_GIVEN:
        outs.append(f"{decon}/reference/elbo.png")
    if DECON["truth"]:
        outs += [f"{decon}/accuracy.tsv", f"{decon}/accuracy.png"]
    return outs


def final_outputs():
    outs = [f"{OUT}/expression/genes.tsv"]
    if SAMPLES_WITH_SLIDE:
        outs.append(f"{OUT}/splits/folds.tsv")
    outs += expand(f"{OUT}/ingest/{{sample}}.h5ad", sample=SAMPLES)
    outs += expand(
        [
            f"{OUT}/patches/{{sample}}.h5",
            f"{OUT}/tiles/{{sample}}.h5",
            f"{OUT}/qc/{{sample}}_tissue_spots.png",
        ],
        sample=SAMPLES_WITH_SLIDE,
    )
    return (
        outs
        + deconvolution_outputs()
        + expression_model_outputs()
        + cell_type_model_outputs()
    )
