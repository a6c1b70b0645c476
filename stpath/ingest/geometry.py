"""Spot geometry and pixel size: what each source (sample sheet, slide metadata, the technology's
spot size and pitch) says about the µm per pixel of a slide, and whether they agree.

A wrong pixel size gives valid-looking patches of the wrong field of view, so every source that
exists is compared and a disagreement stops the sample, naming the sources."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from ..errors import InputError

log = logging.getLogger(__name__)

# Centre-to-centre distance of neighbouring spots, per technology (Visium: 55 um spots on a 100 um
# hexagonal grid; legacy ST: 100 um spots on a 200 um square grid).
SPOT_PITCH_UM = {"visium": 100.0, "legacy_st": 200.0}
SHEET = "sample sheet um_per_px"
SLIDE = "slide metadata"


@dataclass(frozen=True)
class UmPerPx:
    """A pixel size with where it came from (slide metadata, sample sheet, spot pitch, ...)."""

    value: float
    source: str


def spot_pitch_px(xy: np.ndarray) -> float | None:
    """Median distance from each spot to its nearest neighbour (pixels); None under 3 spots."""
    xy = np.asarray(xy, dtype=float)
    if len(xy) < 3:
        return None
    dist, _ = cKDTree(xy).query(xy, k=2)
    pitch = float(np.median(dist[:, 1]))
    return pitch if pitch > 0 else None


def check_finite(ids, xy: np.ndarray, path: str | Path) -> None:
    bad = ~np.isfinite(np.asarray(xy, dtype=float)).all(axis=1)
    if bad.any():
        first = np.flatnonzero(bad)[:3]
        raise InputError(
            path,
            f"{int(bad.sum())} of {len(xy)} spots have a missing or non-numeric coordinate, e.g. "
            + ", ".join(f"{ids[i]} at ({xy[i, 0]}, {xy[i, 1]})" for i in first),
            "give every spot a numeric x and y in full-resolution slide pixels (or drop the spot from both the "
            "counts and the coordinates)",
        )


# Bright-field scans: about 0.1 (a 100x objective) to 2 um/px (a 5x overview); a legacy-ST or
# Visium full-resolution image 0.3-1. Outside 0.05-20 a value is a typo or a unit slip (mm, inch).
PLAUSIBLE_UM_PER_PX = (0.05, 20.0)


def check_scale(
    um: UmPerPx, path: str | Path, sample: str, finest_um: float, max_upsampling: float, finest_key: str = ""
) -> None:
    """The pixel size is one a bright-field slide can have, and cutting tiles and patches at
    ``finest_um`` (the finer of tiling's and the patches' target) upsamples the slide at most
    ``max_upsampling`` times: more gives blurred, meaningless images, and a tile grid that grows
    with the square of the factor (a 69 for 0.69 typo: 138x, about a million tiles)."""
    low, high = PLAUSIBLE_UM_PER_PX
    if not low <= um.value <= high:
        raise InputError(
            path,
            f"sample {sample}: the pixel size {um.value:g} um/px ({um.source}) is outside the range of bright-field slides ({low:g}-{high:g} um/px)",
            "correct it (um/px: about 0.25 for a 40x scan, 0.5 for 20x; a legacy ST or HER2ST image about 0.7); "
            "if it comes from the slide's metadata, give the right value in the sample sheet's um_per_px",
        )
    factor = um.value / finest_um
    if factor > max_upsampling:
        raise InputError(
            path,
            f"sample {sample}: "
            + (f"{finest_key}.um_per_px cuts at" if finest_key else "tiles and patches are cut at")
            + f" {finest_um:g} um/px, {factor:.3g}x finer than the slide's "
            f"{um.value:g} um/px ({um.source}); more than qc.max_upsampling ({max_upsampling:g}x) is refused",
            (
                f"check {finest_key}.um_per_px (a typo such as 0.05 for 0.5?) and the slide's pixel size"
                if finest_key
                else "check the pixel size first"
            )
            + " (a typo such as 69 for 0.69?); for a low-resolution image, cut at a coarser "
            f"{finest_key or 'tiling'}.um_per_px, or raise qc.max_upsampling",
        )


SCRAMBLED_R = 0.5  # below this, no pixel axis follows an array axis: the columns are not one table's


def check_frame(array_xy: np.ndarray, xy: np.ndarray, columns: tuple[str, str, str, str], path: str | Path) -> None:
    """Array and pixel coordinates rise together: the pixel x follows the array column and the
    pixel y the array row. A transposed frame (pixel columns swapped) or a mirrored one gives
    valid-looking patches of the wrong tissue, so it is refused. ``columns``: the names of array
    x, array y, pixel x, pixel y in the file."""
    array_xy, xy = np.asarray(array_xy, float), np.asarray(xy, float)
    ok = np.isfinite(array_xy).all(axis=1) & np.isfinite(xy).all(axis=1)
    array_xy, xy = array_xy[ok], xy[ok]
    if len(xy) < 3 or min(len(np.unique(array_xy[:, 0])), len(np.unique(array_xy[:, 1]))) < 3:
        return  # too few spots along an axis to tell
    r = np.corrcoef(np.column_stack([array_xy, xy]).T)[:2, 2:]  # rows: array x, y; columns: pixel x, y
    ax, ay, px, py = columns
    loose = [(a, v) for a, v in ((ax, np.abs(r[0]).max()), (ay, np.abs(r[1]).max())) if v < SCRAMBLED_R]
    if loose:  # a grid's pixels follow its array at |r| ~ 1, even turned; a shuffle gives ~ 0
        problem = "scrambled against the array: " + " and ".join(
            f"no pixel column follows {a} (best |r| {v:.2f})" for a, v in loose
        )
        fix = (
            f"give each spot's own pixel coordinates ({px}, {py}) in the row of its array position ({ax}, {ay}); "
            "were the rows sorted or pasted apart?"
        )
    elif abs(r[0, 1]) > abs(r[0, 0]) and abs(r[1, 0]) > abs(r[1, 1]):
        problem = f"transposed: {px} follows {ay} (r {r[1, 0]:.2f}) and {py} follows {ax} (r {r[0, 1]:.2f})"
        fix = f"swap the {px} and {py} columns (or the image's axes) so that {px} rises with {ax}"
    elif r[0, 0] < 0 or r[1, 1] < 0:
        flipped = [f"{p} falls as {a} rises (r {v:.2f})" for p, a, v in ((px, ax, r[0, 0]), (py, ay, r[1, 1])) if v < 0]
        problem = "mirrored: " + " and ".join(flipped)
        fix = "give pixel coordinates of the image in the array's orientation (not mirrored or rotated), or flip the image to match"
    else:
        return
    raise InputError(path, f"the pixel coordinates are {problem}", fix)


def pixel_size(sources: list[UmPerPx], path: str | Path, sample: str, tolerance: float) -> UmPerPx:
    """The pixel size to use, after checking that every source agrees within ``tolerance``
    (a relative difference; 0.2 = 20 %).

    Priority: the sample sheet, then the slide's metadata, then the spot geometry. A sheet value
    that every spot-geometry source confirms overrides disagreeing slide metadata (a TIFF's 72 dpi
    default, say) with a warning: it is then two independent sources against one."""
    if not sources:
        raise InputError(
            path,
            f"sample {sample}: the pixel size (um/px) is unknown: the slide stores none and the format gives no spot pitch",
            "add the pixel size in um/px to the 'um_per_px' column of the sample sheet",
        )
    by_name = {s.source: s for s in sources}
    chosen = by_name.get(SHEET) or by_name.get(SLIDE) or sources[0]
    disagree = [s for s in sources if _ratio(s.value, chosen.value) > 1 + tolerance]
    if not disagree:
        return chosen
    geometry = [s for s in sources if s.source not in (SHEET, SLIDE)]
    if chosen.source == SHEET and geometry and [s.source for s in disagree] == [SLIDE]:
        log.warning(
            "%s: the slide metadata says %.4f um/px; the sample sheet's %.4f um/px is used, as the spot geometry "
            "(%s) confirms it",
            sample,
            by_name[SLIDE].value,
            chosen.value,
            ", ".join(s.source for s in geometry),
        )
        return chosen
    listed = "; ".join(f"{s.source}: {s.value:.4g}" for s in sources)
    raise InputError(
        path,
        f"sample {sample}: the pixel size sources disagree by more than {tolerance:.0%} ({listed} um/px)",
        _fix(chosen, disagree, sample),
    )


def _ratio(a: float, b: float) -> float:
    return max(a, b) / min(a, b)


def _fix(chosen: UmPerPx, disagree: list[UmPerPx], sample: str) -> str:
    factor = disagree[0].value / chosen.value
    if chosen.source == SHEET:
        return (
            f"correct um_per_px of sample {sample} in the sample sheet (the other sources say about "
            f"{disagree[0].value:.4g}, {factor:.3g}x the sheet's value) or leave it empty to use them"
        )
    return (
        f"the spot coordinates are not in full-resolution pixels of this slide (they imply a pixel size {factor:.3g}x "
        f"the {chosen.source}'s): give coordinates of the full-resolution image the slide file holds (for Visium, "
        "the image given to Space Ranger; not the hires/lowres PNGs), or pair the sample with its own slide; if the "
        "slide's stored pixel size is the wrong one, set um_per_px in the sample sheet"
    )
