"""What a run makes: the targets of the workflow's ``all`` rule, derived from its stages (which
samples, stages and models a config runs). Paths only; nothing is read."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .config import Stages
from .wsi.scale import RunScales


def _each(pattern: str, **values: Iterable) -> list[str]:
    """``pattern`` formatted with every combination of ``values`` (Snakemake's ``expand``)."""
    out = [pattern]
    for key, options in values.items():
        out = [p.replace("{" + key + "}", str(v)) for p in out for v in options]
    return out


def splits(stages: Stages, folds: list) -> list[str]:
    """A model's training runs: one per fold (they measure) and the final one (it predicts the
    image-only slides and is bundled)."""
    return [f"fold{f}" for f in folds] + (["final"] if stages.final_models else [])


def deconvolution_outputs(out: str, stages: Stages, truth: bool, signatures_given: bool) -> list[str]:
    if not stages.deconvolution:
        return []
    decon = f"{out}/deconvolution"
    outs = [
        f"{decon}/mapping/elbo.png",
        f"{decon}/mapping/reconstruction.png",
        f"{decon}/marker_check.tsv",
        f"{decon}/marker_check.png",
    ]
    # cell2location's per-section files and maps through their indexes (stpath.manifest)
    outs += [f"{decon}/index.tsv", f"{decon}/maps/index.tsv"]
    if not signatures_given:
        outs.append(f"{decon}/reference/elbo.png")
    if truth:
        outs += [f"{decon}/accuracy.tsv", f"{decon}/accuracy.png"]
    if stages.published_check:
        outs += [f"{decon}/published_check.tsv", f"{decon}/published_check.png", f"{decon}/published_check_maps.png"]
    return outs


def trained_model_outputs(
    out: str, stages: Stages, folds: list, models: list[str], whole_slide: list[str], replicates: list[str] = ()
) -> list[str]:
    """Every training run's history (the seed replicates' per fold), the final models' bundles, the
    whole-slide maps."""
    history = f"{out}/models/{{model}}/{{split}}/history.tsv"
    outs = _each(history, model=models, split=splits(stages, folds))
    outs += _each(history, model=replicates, split=[f"fold{f}" for f in folds])
    if stages.final_models:
        outs += _each(f"{out}/bundles/{{model}}", model=models)
    # the whole-slide maps of each model through its job's index (stpath.manifest)
    return outs + _each(
        f"{out}/wholeslide/{{model}}/index.tsv", model=whole_slide if stages.whole_slide_samples else []
    )


def summary_parts(out: str, stages: Stages) -> list[str]:
    """The per-branch metric tables that ``metrics/summary.tsv`` stacks."""
    return ([f"{out}/metrics/expression_summary.tsv"] if stages.expression_models else []) + (
        [f"{out}/metrics/cell_types/summary.tsv"] if stages.cell_type_models else []
    )


def model_outputs(out: str, stages: Stages, folds: list) -> list[str]:
    """Metric tables and figures of each branch that runs, then its models' outputs."""
    outs = []
    if stages.expression_models:
        outs += [f"{out}/metrics/{t}.tsv" for t in ("summary", "headline", "per_gene")]
        outs += [
            f"{out}/metrics/{name}.png" for name in ("training_curves", "per_gene_pcc", "summary", "cross_patient")
        ]
        outs.append(f"{out}/metrics/maps/index.tsv")  # every held-out slide's maps (stpath.manifest)
        outs += trained_model_outputs(
            out, stages, folds, stages.expression_models, stages.whole_slide_expression, stages.expression_seeds
        )
    if stages.cell_type_models:
        metrics = f"{out}/metrics/cell_types"
        outs += [f"{out}/metrics/summary.tsv", f"{out}/metrics/headline.tsv", f"{metrics}/per_type.tsv"]
        outs += [f"{metrics}/pearson.png", f"{metrics}/summary.png", f"{metrics}/colocalisation.png"]
        outs.append(f"{metrics}/maps/index.tsv")
        outs += trained_model_outputs(
            out, stages, folds, stages.cell_type_models, stages.whole_slide_cell_types, stages.cell_type_seeds
        )
    return outs


def patch_path(out: str, scales: RunScales, section: str, sample: str) -> str:
    """The spot patches a model branch (``section``) learns from: ``patches/`` at the run's
    scale, ``patches/<scale>/`` at a branch's own."""
    folder = scales.patch_folder(section)
    return f"{out}/patches/{folder + '/' if folder else ''}{sample}.h5"


def spot_files(out: str, scales: RunScales, section: str, samples: list[str]) -> dict[str, list[str]]:
    """The patches and expression of ``samples`` that a model branch reads."""
    return {
        "patches": [patch_path(out, scales, section, s) for s in samples],
        "expression": [f"{out}/genes/{s}.h5ad" for s in samples],
    }


def tile_path(out: str, scales: RunScales, section: str, sample: str) -> str:
    """The tiles a model branch maps a whole slide on: ``tiles/`` when they cover its field of
    view, ``tiles/<scale>/`` cut at its scale otherwise."""
    folder = scales.tile_folder(section)
    return f"{out}/tiles/{folder + '/' if folder else ''}{sample}.h5"


def final_outputs(
    out: str, samples: list[str], stages: Stages, folds: list, applied: list[str], truth: bool, signatures_given: bool
) -> list[str]:
    """Everything a run of ``stages`` makes, in stage order (the ``all`` rule's input)."""
    outs = _each(f"{out}/ingest/{{sample}}.h5ad", sample=samples)
    if stages.samples_with_expression:
        outs.append(f"{out}/genes/genes.tsv")
    if folds:
        outs.append(f"{out}/splits/folds.tsv")
    outs += _each(f"{out}/tiles/{{sample}}.h5", sample=stages.samples_with_slide)
    for sample in stages.labelled_slides:
        outs += [f"{out}/patches/{sample}.h5", f"{out}/qc/{sample}_tissue_spots.png"]
    outs += deconvolution_outputs(out, stages, truth, signatures_given)
    outs += model_outputs(out, stages, folds)
    return outs + _each(f"{out}/applied/{{bundle}}/index.tsv", bundle=applied if stages.samples_with_slide else [])


# ---- index files (stpath.manifest): a job reading every section's file of a kind depends on the
# kind's index and gets the paths in params.files -------------------------------------------------
def ingest_path(out: str, sample: str) -> str:
    return f"{out}/ingest/{sample}.h5ad"


def decon_path(out: str, sample: str) -> str:
    """cell2location's estimates of a section (read through ``decon_index``)."""
    return f"{out}/deconvolution/{sample}.h5ad"


def decon_index(out: str) -> str:
    return f"{out}/deconvolution/index.tsv"


def prediction_path(out: str, model: str, sample: str) -> str:
    return f"{out}/predictions/{model}/{sample}.h5ad"


def prediction_index(out: str, model: str) -> str:
    return f"{out}/predictions/{model}/index.tsv"


def section_index(out: str, kind: str) -> str:
    """The index a gathering job writes of a kind of per-section file: ``ingest``,
    ``patches_<branch section>`` (the labelled slides') or ``tiles_<branch section>`` (the slides
    that branch maps whole)."""
    return f"{out}/index/{kind}.tsv"


def indexed(out: str, scales: RunScales, stages: Stages, kind: str) -> dict[str, str]:
    """The files (by sample) of a section index: every sample's ingested spots, or the labelled
    slides' patches at a branch's scale."""
    if kind == "ingest":
        return {s: ingest_path(out, s) for s in stages.samples_with_expression}
    if kind.startswith("tiles_"):
        section = kind.removeprefix("tiles_")
        return {s: tile_path(out, scales, section, s) for s in stages.whole_slide_samples}
    section = kind.removeprefix("patches_")
    return {s: patch_path(out, scales, section, s) for s in stages.labelled_slides}


def lifecycle_io(out, scales, stage, section, samples, label_files, label_inputs) -> tuple[dict, dict]:
    """What a lifecycle ``stage`` (train, predict, map_slides, bundle) of a model of branch
    ``section`` reading ``samples`` depends on (inputs), and the section files it reads through an
    index (``params.files``): the patches at the branch's scale (through the index of every
    labelled slide's: a fold's training reruns when any of them changes, the price of a plan
    linear in the sections), the expression (through genes.tsv, an input of every stage), a
    cell-type model's labels (``label_files``; ``label_inputs`` what they depend on). A cell-type
    bundle reads the first slide's labels only, for their names."""
    cells = section == "cell_type_models"
    if stage == "bundle" and cells:
        samples = samples[:1]
    inputs, files = {}, {}
    if stage in ("train", "predict") or not cells:
        files.update(spot_files(out, scales, section, samples))
        inputs["patches"] = section_index(out, f"patches_{section}")
    if cells:
        files["labels"] = label_files(samples)
        inputs["labels"] = label_inputs(samples)
    return inputs, files


def label_files(out: str, labels: dict, samples: list[str]) -> list[str]:
    """The cell-type labels of ``samples`` (``labels``: the config's cell_type_models.labels):
    this run's cell2location estimates, or a published tier's proportions."""
    if labels["source"] == "published":
        return [f"{out}/deconvolution/published/{labels['tier']}/{s}.h5ad" for s in samples]
    return [decon_path(out, s) for s in samples]


def label_inputs(out: str, labels: dict, samples: list[str]) -> list[str] | str:
    """What reading ``samples``' labels depends on: the published tier's files (one job each), or
    cell2location's index (one job for all)."""
    return label_files(out, labels, samples) if labels["source"] == "published" else decon_index(out)


def name_pattern(names: Iterable[str], none: str = "NO_NAMES") -> str:
    """A regular expression matching exactly ``names`` (a wildcard constraint), factored by their
    common prefixes: Python tries an alternation of 3,000 sample names one by one on every path
    Snakemake matches, this one in the length of the path. ``none`` (a name no path has) when
    there are no names."""
    trie: dict = {}
    for name in names:
        node = trie
        for char in name:
            node = node.setdefault(char, {})
        node[""] = {}

    def pattern(node: dict) -> str:
        branches = [re.escape(char) + pattern(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" not in node:
            return body
        return f"(?:{body})?" if len(branches) == 1 else body + "?"

    return pattern(trie) or none
