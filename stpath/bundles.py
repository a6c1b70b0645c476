"""Model bundles (``results/{dataset}/bundles/{model}/``): a final model that can leave the run that
trained it and be applied to other slides by another run, with no training data at hand.

A bundle is a folder: ``bundle.json`` (model, task, settings and their fingerprint, the genes it
takes and predicts with their normalisation, cell types, encoder, input scale, training slides),
``weights.pt`` (the whole state dict: a fine-tuned or LoRA encoder included, so the encoder's own
weight file is not needed) and, for retrieval models, ``keys.h5`` (the training spots' expression
embeddings and expression). Owner of that layout: ``write_bundle`` writes it, ``read_bundle`` and
``read_keys`` read it, ``check_applicable`` refuses a bundle for tiles or genes it was not made for.
A bundle learnt from stain-normalised images also holds the target's stain fit
(``stain_target.json``, the format of ``stpath.wsi.stain``): an applying run maps its slides to it.
Light at parse time (json, numpy): the workflow reads manifests before any job; h5py and pydantic
only when keys or settings are read."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .wsi.scale import ImageScale

FORMAT_VERSION = 2  # 1: the stain inside the scale (read too)
MANIFEST = "bundle.json"
WEIGHTS = "weights.pt"
KEYS = "keys.h5"
STAIN_TARGET = "stain_target.json"
# what the expression models learn and predict (stpath.genes.selection.normalise)
NORMALISATION = "normalize_total to each slide's median library size, then log1p (scanpy)"


@dataclass(frozen=True)
class Bundle:
    model: str  # registry name
    task: str  # registry task: expression or cell_types
    dataset: str  # the run that trained it
    settings: dict  # the branch's typed settings as a dict (``settings_as``), encoder weight paths blanked
    input_genes: list[str]  # the genes the model takes in (expression branch input / molecule branch)
    outputs: list[str]  # what it predicts: genes (normalised expression) or cell types (abundance)
    map_genes: list[str]  # expression: the genes predicted on every tile unless a run asks for others
    normalisation: str
    encoder: dict  # architecture, preset, and the pretrained weight file it started from
    scale: ImageScale  # the images it learnt from
    stain: dict  # the stain fit they were normalised to ({}: not normalised; {"method": m}: to a target not known yet)
    training_samples: list[str]
    retrieval: bool  # predicts by retrieval over the training spots (keys.h5)
    fingerprint: str = ""
    path: Path | None = None  # where it was read from

    @property
    def name(self) -> str:
        """How the applying run names it: the training run's dataset and the model."""
        return f"{self.dataset}-{self.model}"

    @property
    def weights(self) -> Path:
        return Path(self.path) / WEIGHTS

    def describe(self) -> str:
        return f"bundle {self.path} ({self.model} trained on {self.dataset}: {', '.join(self.training_samples)})"


def settings_fingerprint(bundle: Bundle) -> str:
    content = [
        bundle.model,
        bundle.settings,
        bundle.input_genes,
        bundle.outputs,
        bundle.scale.um_per_px,
        bundle.scale.px,
        bundle.training_samples,
    ]
    if bundle.stain:
        content.append(bundle.stain)
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def settings_dict(settings) -> dict:
    """Typed settings as a JSON-able dict with every encoder weight path blanked: the bundle's
    weights hold the whole model, and the applying machine need not have the file."""

    def blank(node):
        if isinstance(node, dict):
            return {k: ("" if k == "weights" and isinstance(v, str) else blank(v)) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [blank(v) for v in node]
        return node

    return blank(json.loads(json.dumps(dataclasses.asdict(settings), default=str)))


def settings_as(bundle: Bundle, cls):
    """The bundle's settings as ``cls`` (the branch's settings dataclass)."""
    from pydantic import TypeAdapter

    return TypeAdapter(cls).validate_python(bundle.settings)


def write_bundle(folder, bundle: Bundle, weights: Path, keys: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Write the bundle folder; it appears at ``folder`` only once complete. The partial folder
    has a fixed name, so a rerun after a kill -9 clears what the killed job left."""
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        shutil.copyfile(weights, tmp / WEIGHTS)
        if bundle.stain:
            from .wsi.stain import StainFit, write_stain_fit

            write_stain_fit(tmp / STAIN_TARGET, StainFit(**bundle.stain))
        if bundle.retrieval:
            import h5py

            embeddings, expression = keys
            with h5py.File(tmp / KEYS, "w") as f:
                f.create_dataset("embeddings", data=np.asarray(embeddings, np.float32), compression="gzip")
                f.create_dataset("expression", data=np.asarray(expression, np.float32), compression="gzip")
        manifest = dataclasses.asdict(dataclasses.replace(bundle, path=None))
        manifest.pop("path")
        manifest["fingerprint"] = settings_fingerprint(bundle)
        manifest["format_version"] = FORMAT_VERSION
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_bundle(folder) -> Bundle:
    folder = Path(folder)
    manifest = folder / MANIFEST
    if not folder.exists():
        raise InputError(
            folder,
            "model bundle not found",
            "run the workflow that trains it first (config/apply_example.yaml applies the demo's bundles: run make demo), "
            "or correct apply.bundles (paths are relative to the working directory)",
        )
    if not manifest.is_file():
        raise InputError(
            folder,
            "not a model bundle (no bundle.json)",
            "point apply.bundles at a folder results/{dataset}/bundles/{model} made by a run with training.final_models: true",
        )
    try:
        data = json.loads(manifest.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(
            manifest, f"unreadable bundle manifest ({exc})", "copy the bundle again from the run that made it"
        ) from None
    if data.get("format_version") == 1 and isinstance(data.get("scale"), dict):  # the stain sat in the scale
        data["stain"] = data["scale"].pop("stain", {})
        data["format_version"] = FORMAT_VERSION
    if data.get("format_version") != FORMAT_VERSION:
        raise InputError(
            manifest,
            f"bundle format version {data.get('format_version')!r}, this stpath reads {FORMAT_VERSION}",
            "re-make the bundle with this stpath version (rerun the training run's bundle rule)",
        )
    data.pop("format_version")
    try:
        data["scale"] = ImageScale(**data["scale"])
        bundle = Bundle(**data, path=folder)
    except (TypeError, KeyError) as exc:
        raise InputError(
            manifest, f"incomplete bundle manifest ({exc})", "re-make the bundle with this stpath version"
        ) from None
    if settings_fingerprint(bundle) != bundle.fingerprint:
        raise InputError(
            manifest,
            "the bundle manifest does not match its fingerprint (edited by hand?)",
            "copy the bundle again from the run that made it",
        )
    needed = [WEIGHTS] + ([KEYS] if bundle.retrieval else [])
    missing = [n for n in needed if not (folder / n).is_file()]
    if missing:
        raise InputError(
            folder, f"the bundle lacks {missing}", "copy the whole bundle folder from the run that made it"
        )
    return bundle


def read_keys(bundle: Bundle) -> tuple[np.ndarray, np.ndarray]:
    """The training spots' expression embeddings and expression (``outputs`` order)."""
    import h5py

    with h5py.File(Path(bundle.path) / KEYS, "r") as f:
        return f["embeddings"][:], f["expression"][:]


def check_applicable(bundle: Bundle, tiles: ImageScale, stain: dict, genes: list[str]) -> None:
    """Refuse a bundle for tiles of another scale or stain (``stain``: what the run's tiles are
    normalised to, as ``Bundle.stain``), or for genes it does not predict."""
    if bundle.stain != stain:
        wanted = bundle.stain.get("method", "none")
        raise InputError(
            Path(bundle.path) / MANIFEST,
            f"{bundle.describe()} learnt from images stain-normalised by {wanted}"
            f"{' to ' + bundle.stain['sample'] if wanted != 'none' else ''}; this run's tiles are "
            f"{'normalised by ' + stain['method'] + ' to another target' if stain else 'not normalised'}",
            (
                f"set stain_normalisation: {{method: {wanted}, target: {Path(bundle.path) / STAIN_TARGET}}} in the config"
                if wanted != "none"
                else "set stain_normalisation.method: none in the config"
            )
            + " (or remove the bundle from apply.bundles)",
        )
    if not tiles.same_as(bundle.scale):
        raise InputError(
            Path(bundle.path) / MANIFEST,
            f"{bundle.describe()} learnt from {bundle.scale.px} px images at {bundle.scale.um_per_px:g} um/px, but this run cuts "
            f"tiles of {tiles.px} px at {tiles.um_per_px:g} um/px",
            f"set tiling.px: {bundle.scale.px} and tiling.um_per_px: {bundle.scale.um_per_px:g} in the config "
            "(or remove the bundle from apply.bundles)",
        )
    missing = [g for g in genes if g not in bundle.outputs]
    if bundle.task == "expression" and missing:
        raise InputError(
            Path(bundle.path) / MANIFEST,
            f"apply.genes asks for {len(missing)} gene(s) {bundle.describe()} does not predict, e.g. {missing[:3]}",
            f"choose genes among the bundle's {len(bundle.outputs)} (listed under 'outputs' in {Path(bundle.path) / MANIFEST}), "
            "or empty apply.genes to use its map genes",
        )
