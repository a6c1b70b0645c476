"""Per-slide stain normalisation (Macenko; Reinhard), fitted once per slide on a seeded sample of
its tissue tiles and applied, as one fixed map per slide, to every patch and tile as they are cut.

torchstain (MIT, numpy backend) fits each slide: Macenko's H&E stain vectors and 99th-percentile
concentrations, or Reinhard's LAB means and standard deviations, on a mosaic of the sampled tiles;
its LAB conversions serve Reinhard's map. torchstain's own ``normalize`` refits every image it is
given, which on a 112 um patch is noisy and gives the patches of one slide different maps; here
each slide's fit is computed once, on many tiles, and every image of the slide goes through the
same map to the target.

Owner of the stain fit file (``stain/{sample}.json``): ``write_stain_fit`` writes it,
``read_stain_fit`` reads it."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from torchstain.numpy.normalizers import NumpyMacenkoNormalizer, NumpyReinhardNormalizer
from torchstain.numpy.utils.lab2rgb import lab2rgb
from torchstain.numpy.utils.rgb2lab import rgb2lab
from torchstain.numpy.utils.split import lab_merge, lab_split

from ..atomic import atomic_path
from ..errors import InputError

log = logging.getLogger(__name__)

METHODS = ("none", "macenko", "reinhard")
IO = 240  # transmitted light intensity of torchstain's Macenko (its default)
CHUNK = 64  # images mapped at once (bounds the float copies)


@dataclass(frozen=True)
class StainNormalisation:
    """The stain_normalisation config section."""

    method: str = "none"
    target: str = ""  # a sample of the sheet, a stain fit file (.json), or "" = the sheet's first sample
    fit_tiles: int = 64  # tissue tiles sampled per slide to fit its stain
    seed: int = 0

    @property
    def active(self) -> bool:
        return self.method != "none"

    @property
    def target_is_file(self) -> bool:
        return self.target.endswith(".json")

    @classmethod
    def from_config(cls, section: dict) -> "StainNormalisation":
        return cls(**section)


@dataclass(frozen=True)
class StainFit:
    """A slide's stain: Macenko's ``stain_matrix`` (3 x 2, OD of H and E) and ``max_concentrations``
    (2), or Reinhard's LAB ``means`` and ``stds`` (3 each)."""

    method: str
    sample: str
    n_tiles: int
    stain_matrix: tuple = ()
    max_concentrations: tuple = ()
    means: tuple = ()
    stds: tuple = ()

    def describe(self) -> str:
        return f"{self.method} fit of {self.sample} ({self.n_tiles} tiles)"

    def record(self) -> dict:
        """As a JSON-able dict (what the fit file and a bundle's manifest hold)."""
        return json.loads(json.dumps(asdict(self)))


def mosaic(images: np.ndarray) -> np.ndarray:
    """uint8 [N, H, W, 3] as one tall image (what torchstain's ``fit`` takes)."""
    return images.reshape(-1, images.shape[2], 3)


def fit_stain(images: np.ndarray, method: str, sample: str) -> StainFit:
    """The stain of a set of tissue images of one slide."""
    if method == "macenko":
        fitter = NumpyMacenkoNormalizer()
        try:
            fitter.fit(mosaic(images), Io=IO)
        except (np.linalg.LinAlgError, IndexError, ValueError) as err:
            raise ValueError(
                f"{sample}: Macenko's stain vectors cannot be estimated from {len(images)} tiles ({err})"
            ) from err
        return StainFit(
            "macenko", sample, len(images), stain_matrix=_tuple(fitter.HERef), max_concentrations=_tuple(fitter.maxCRef)
        )
    if method == "reinhard":
        fitter = NumpyReinhardNormalizer()
        fitter.fit(mosaic(images))
        return StainFit(
            "reinhard", sample, len(images), means=_tuple(fitter.target_means), stds=_tuple(fitter.target_stds)
        )
    raise ValueError(f"stain normalisation method must be one of {METHODS[1:]}, not {method!r}")


def _tuple(a) -> tuple:
    """Numbers or rows of numbers as (nested) tuples: a fit is a frozen, comparable value."""
    return tuple(tuple(v) if isinstance(v, list) else v for v in np.asarray(a, dtype=float).tolist())


def _macenko(rgb: np.ndarray, source: StainFit, target: StainFit) -> np.ndarray:
    """Concentrations under the source's stain vectors, rescaled to the target's maxima and
    recombined with the target's vectors (Macenko et al. 2009)."""
    od = -np.log((rgb.reshape(-1, 3).astype(np.float64) + 1) / IO)
    concentrations = np.linalg.lstsq(np.asarray(source.stain_matrix), od.T, rcond=None)[0]
    concentrations *= (np.asarray(target.max_concentrations) / np.asarray(source.max_concentrations))[:, None]
    out = IO * np.exp(-np.asarray(target.stain_matrix) @ concentrations)
    return np.clip(out.T, 0, 255).reshape(rgb.shape).astype(np.uint8)


def _reinhard(rgb: np.ndarray, source: StainFit, target: StainFit) -> np.ndarray:
    """Each LAB channel standardised by the source's statistics and rescaled to the target's
    (Reinhard et al. 2001)."""
    channels = lab_split(rgb2lab(rgb.astype(np.float32) / 255))  # the space torchstain's fit measures
    mapped = [
        (c - mu) / sd * sd_t + mu_t
        for c, mu, sd, mu_t, sd_t in zip(channels, source.means, source.stds, target.means, target.stds)
    ]
    return (np.clip(lab2rgb(lab_merge(*mapped)), 0, 1) * 255).astype(np.uint8)


def normalise(images: np.ndarray, source: StainFit, target: StainFit) -> np.ndarray:
    """uint8 [N, H, W, 3] of the source's slide mapped to the target's stain."""
    if source.method != target.method:
        raise ValueError(f"{source.describe()} and {target.describe()} are fits of different methods")
    apply = _macenko if source.method == "macenko" else _reinhard
    out = np.empty_like(images)
    for i in range(0, len(images), CHUNK):
        out[i : i + CHUNK] = apply(images[i : i + CHUNK], source, target)
    return out


def write_stain_fit(path, fit: StainFit) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(fit.record(), indent=1))


def read_stain_fit(path) -> StainFit:
    try:
        data = json.loads(Path(path).read_text())
        fit = StainFit(**{k: _tuple(v) if isinstance(v, list) else v for k, v in data.items()})
    except (OSError, ValueError, TypeError) as err:
        raise InputError(
            path,
            f"not a stain fit file ({err})",
            "point stain_normalisation.target at a stain/{sample}.json of a run, or at a bundle's stain_target.json",
        ) from err
    if fit.method not in METHODS[1:]:
        raise InputError(
            path, f"stain fit method {fit.method!r} is not one of {METHODS[1:]}", "refit it with rule stain_fit"
        )
    return fit


@dataclass(frozen=True)
class StainMap:
    """One slide's map to the target (``None`` = no normalisation); what patch and tile cutting
    apply to every image."""

    source: StainFit
    target: StainFit

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return normalise(images, self.source, self.target)

    def describe(self) -> str:
        return f"{self.source.method}: {self.source.sample} -> {self.target.sample}"


def stain_map(source_path, target_path) -> StainMap | None:
    """The map of a slide from its fit file to the target's; ``None`` when either is absent."""
    if not source_path or not target_path:
        return None
    return StainMap(read_stain_fit(source_path), read_stain_fit(target_path))
