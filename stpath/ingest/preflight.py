"""The cheap checks of one sample's inputs, run for every sample before any job (``snakemake -n``
reports them) and again by its ingest job: the files open, the counts file has a header and rows,
every spot has finite coordinates inside the slide, and every source of the pixel size agrees.

What needs the counts themselves (spot ids matching, Visium in_tissue) stays in the ingest job."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..wsi.slide import slide_header
from .geometry import SHEET, SLIDE, UmPerPx, check_finite, check_frame, check_scale, pixel_size
from .readers import FORMATS, SpotPositions
from .sheet import IMAGE_ONLY, Sample, input_files

log = logging.getLogger(__name__)

PIXEL_SIZE_TOLERANCE = 0.2
MAX_UPSAMPLING = 4.0
MIN_SECTION_SPOTS = 10  # spots a section with spatial data needs: trained on, validated on and scored


@dataclass(frozen=True)
class Checked:
    """What the pre-flight learnt about a sample."""

    positions: SpotPositions | None  # None for an image-only sample
    um_per_px: UmPerPx | None  # None: no slide and no source (a slide-free sample needs none)
    slide_dims: tuple[int, int] | None
    gene_ids: str | None = None  # "Ensembl ids" or "gene symbols" (``gene_id_kind``); None without counts


@dataclass(frozen=True)
class CutLimits:
    """What the slide stages will cut: the finest pixel size of the run's tiles and patches
    (``stpath.wsi.scale.RunScales.finest_um``) and the upsampling allowed."""

    finest_um: float = 0.5
    max_upsampling: float = MAX_UPSAMPLING
    finest_key: str = ""  # a branch's own patch section when it sets finest_um ("": tiling or patches)
    widest_um: float = 0.0  # the widest field of view cut (um; 0: not checked)
    widest_key: str = "tiling"  # and the section that sets it

    @classmethod
    def of(cls, scales, max_upsampling: float) -> "CutLimits":
        """From a run's ``stpath.wsi.scale.RunScales``."""
        key, widest = scales.widest()
        finest = scales.finest_key()
        branch_own = (
            finest if "." in finest and scales.finest_um < min(scales.tiles.um_per_px, scales.patches.um_per_px) else ""
        )
        return cls(scales.finest_um, max_upsampling, branch_own, widest.field_um, key)


def check_sample(sample: Sample, tolerance: float = PIXEL_SIZE_TOLERANCE, limits: CutLimits = CutLimits()) -> Checked:
    checked = _check_sample(sample, tolerance)
    if checked.um_per_px is not None and sample.slide is not None:
        where = sample.slide if checked.um_per_px.source in (SHEET, SLIDE) else checked.positions.path
        check_scale(checked.um_per_px, where, sample.sample, limits.finest_um, limits.max_upsampling, limits.finest_key)
        _check_window(checked, sample, limits)
    return checked


def _check_window(checked: Checked, sample: Sample, limits: CutLimits) -> None:
    """The widest field of view the run cuts fits in the slide: a window wider than the slide's
    shorter side leaves the slide wherever it is cut (a um_per_px typo in a scale section)."""
    if not limits.widest_um or checked.slide_dims is None:
        return
    um = checked.um_per_px.value
    side_um = min(checked.slide_dims) * um
    if limits.widest_um > side_um:
        raise InputError(
            None,
            f"{limits.widest_key}: a {limits.widest_um:g} um field of view ({limits.widest_key}.px x "
            f"{limits.widest_key}.um_per_px) is wider than slide {sample.sample} ({checked.slide_dims[0]} x "
            f"{checked.slide_dims[1]} px at {um:g} um/px = {checked.slide_dims[0] * um:.0f} x {checked.slide_dims[1] * um:.0f} um)",
            f"correct {limits.widest_key}.um_per_px (a Visium spot's window is about 0.5 um/px x 224 px = 112 um)",
        )


def _check_sample(sample: Sample, tolerance: float) -> Checked:
    if sample.expression is None:
        return _check_image_only(sample)
    if sample.format not in FORMATS:
        raise InputError(
            None, f"sample {sample.sample}: unknown format {sample.format!r}", f"use one of {sorted(FORMATS)}"
        )
    fmt = FORMATS[sample.format]
    positions = fmt.positions(sample.expression, sample.spots)
    gene_ids = gene_id_kind(fmt.peek_counts(sample.expression, sample.spots))
    _check_spot_count(positions, sample)
    check_finite(positions.ids, positions.xy, positions.path)
    _check_orientation(positions, sample.format)

    sources = [UmPerPx(sample.um_per_px, SHEET)] if sample.um_per_px else []
    dims = None
    if sample.slide is not None:
        dims, stored = slide_header(sample.slide)
        sources += [UmPerPx(stored, SLIDE)] if stored else []
    sources += positions.pixel_sizes
    if sample.slide is None and not sources:
        um = None
    else:  # a missing pixel size is the slide's; a disagreement is the spots' file's
        where = positions.path if sources else sample.slide
        um = pixel_size(sources, where, sample.sample, tolerance)
    if dims is not None:
        _check_inside(positions, dims, sample)
    return Checked(positions, um, dims, gene_ids)


ENSEMBL = re.compile(r"ENS[A-Z]*G\d{6,}(\.\d+)?")


def gene_id_kind(names: list[str]) -> str:
    """Whether a sample names its genes by Ensembl ids or by symbols (a majority of the names that
    could be genes; spot ids never look like Ensembl ids)."""
    ensembl = sum(bool(ENSEMBL.fullmatch(n)) for n in names)
    return "Ensembl ids" if names and ensembl >= 0.5 * len(names) else "gene symbols"


# Visium: the array columns (in ``SpotPositions.obs``), then the pixel columns, x before y (the
# legacy ST reader checks its own frame before it measures the spot pitch from it)
VISIUM_FRAME = ("array_col", "array_row", "pxl_col_in_fullres", "pxl_row_in_fullres")


def _check_orientation(positions, fmt: str) -> None:
    if fmt == "visium" and set(VISIUM_FRAME[:2]) <= set(positions.obs.columns):
        check_frame(positions.obs[list(VISIUM_FRAME[:2])].to_numpy(), positions.xy, VISIUM_FRAME, positions.path)


def _check_image_only(sample: Sample) -> Checked:
    """A slide alone: it opens, and its pixel size is known (the sheet's wins over the metadata;
    with no spots there is nothing to cross-check them against)."""
    dims, stored = slide_header(sample.slide)
    sources = [UmPerPx(sample.um_per_px, SHEET)] if sample.um_per_px else []
    sources += [UmPerPx(stored, SLIDE)] if stored else []
    if not sources:
        raise InputError(
            sample.slide,
            f"sample {sample.sample}: the pixel size (um/px) is unknown: the slide stores none and an image-only sample has no spots to measure it",
            "add the pixel size in um/px to the 'um_per_px' column of the sample sheet (e.g. 0.25 for 40x, 0.5 for 20x scans)",
        )
    if len(sources) == 2 and abs(sources[0].value / sources[1].value - 1) > 1e-3:
        log.warning(
            "%s: the slide metadata says %.4f um/px; the sample sheet's %.4f um/px is used",
            sample.sample,
            stored,
            sample.um_per_px,
        )
    return Checked(None, sources[0], dims)


def check_samples(
    samples: list[Sample],
    made: Callable[[object], bool],
    tolerance: float = PIXEL_SIZE_TOLERANCE,
    limits: CutLimits = CutLimits(),
) -> None:
    """The pre-flight of every sample whose inputs all exist now (the demo generator and the
    download rules make the others; their ingest jobs check them)."""
    kinds: dict[str, list[str]] = {}
    for sample in samples:
        if any(made(f) and not f.exists() for f in input_files(sample)):
            continue
        checked = check_sample(sample, tolerance, limits)
        if checked.gene_ids:
            kinds.setdefault(checked.gene_ids, []).append(sample.sample)
    if len(kinds) > 1:
        listed = "; ".join(f"{kind}: {names[:4]}" for kind, names in kinds.items())
        raise InputError(
            None,
            f"the samples name their genes differently ({listed}): no gene would be shared by all of them",
            "give every sample's counts with the same identifiers (convert the Ensembl ids to symbols, e.g. with the "
            "features table of Space Ranger or a BioMart export, or the other way round)",
        )


def _check_spot_count(positions: SpotPositions, sample: Sample) -> None:
    """A section with a handful of spots (a subset, a single spot) can be neither trained on nor
    validated on nor scored: gene QC would empty it, or its in-slide validation split would."""
    n = len(positions.ids_under_tissue)
    if n < MIN_SECTION_SPOTS:
        raise InputError(
            positions.path,
            f"sample {sample.sample} has only {n} spot(s){' under tissue' if positions.in_tissue is not None else ''}; "
            f"a section with spatial data needs at least {MIN_SECTION_SPOTS}",
            "give the whole section's spots (not a subset), or leave its expression and spots cells empty in the "
            f"sample sheet (format {IMAGE_ONLY}) to have the slide predicted only",
        )


def _check_inside(positions: SpotPositions, dims: tuple[int, int], sample: Sample) -> None:
    xy = positions.xy
    if positions.in_tissue is not None:  # Visium lists the whole array; only spots under tissue matter
        xy = xy[positions.in_tissue]
    W, H = dims
    outside = (xy[:, 0] < 0) | (xy[:, 1] < 0) | (xy[:, 0] >= W) | (xy[:, 1] >= H)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        ids = positions.ids_under_tissue
        raise InputError(
            positions.path,
            f"{int(outside.sum())} of {len(xy)} spot centres lie outside the slide {sample.slide} ({W} x {H} px), "
            f"e.g. {ids[i]} at ({xy[i, 0]:.0f}, {xy[i, 1]:.0f})",
            "give spot coordinates in full-resolution pixels of this very slide (for Visium, the image given to "
            "Space Ranger), or pair the sample with its own slide",
        )
