"""What a run makes: the targets of the workflow's ``all`` rule, derived from its stages (which
samples, stages and models a config runs). Paths only; nothing is read."""

from __future__ import annotations

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
    for sample in stages.samples_with_expression:
        outs += [f"{decon}/{sample}.h5ad", f"{decon}/{sample}_abundance.tsv", f"{decon}/maps/{sample}.png"]
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
    return outs + _each(
        f"{out}/wholeslide/{{model}}/{{sample}}.{{ext}}",
        model=whole_slide,
        sample=stages.whole_slide_samples,
        ext=["h5ad", "png"],
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
        outs += _each(f"{out}/metrics/maps/{{sample}}.png", sample=stages.labelled_slides)
        outs += trained_model_outputs(
            out, stages, folds, stages.expression_models, stages.whole_slide_expression, stages.expression_seeds
        )
    if stages.cell_type_models:
        metrics = f"{out}/metrics/cell_types"
        outs += [f"{out}/metrics/summary.tsv", f"{out}/metrics/headline.tsv", f"{metrics}/per_type.tsv"]
        outs += [f"{metrics}/pearson.png", f"{metrics}/summary.png", f"{metrics}/colocalisation.png"]
        outs += _each(f"{metrics}/maps/{{sample}}.png", sample=stages.labelled_slides)
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
    return outs + _each(
        f"{out}/applied/{{bundle}}/{{sample}}.{{ext}}",
        bundle=applied,
        sample=stages.samples_with_slide,
        ext=["h5ad", "png"],
    )
