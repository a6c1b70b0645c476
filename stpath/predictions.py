"""Predictions of the image models, in one layout for both branches.

Owner of ``predictions/{model}/{sample}.h5ad`` (held-out spots: the prediction next to what it is
scored against) and ``wholeslide/{model}/{sample}.h5ad`` (every tissue tile of a slide):
``write_spot_prediction``/``read_spot_prediction`` and ``write_tile_prediction``/
``read_tile_prediction``; ``applied/{bundle}/{sample}.h5ad`` has the tile layout. In the AnnData:
``X`` the prediction (spots or tiles x genes or cell types), ``obsm["spatial"]`` centres in level-0
slide pixels, ``layers["target"]`` the reference, ``uns["prediction"]`` who predicted what (model,
its training seed, training run, and the bundle when one was applied)."""

from __future__ import annotations

from dataclasses import dataclass, field

import anndata as ad
import numpy as np
import pandas as pd

from .atomic import atomic_path


@dataclass
class SpotPrediction:
    model: str
    fold: int  # the fold whose model held this slide out
    sample: str
    predicted: pd.DataFrame  # spots x genes or cell types
    target: pd.DataFrame  # the same spots x columns: measured expression, or the labels
    target_name: str  # "measured", or the labels' name (e.g. cell2location_q05)
    spatial: np.ndarray  # (spots, 2) centres in level-0 slide pixels
    details: dict = field(default_factory=dict)  # e.g. training slides, label settings
    seed: int | None = None  # the training seed (train.seeds: one file per seed); None in older files


@dataclass
class TilePrediction:
    model: str
    split: str  # the training run that predicted: "fold<k>" (the slide is held out), "final", or "bundle"
    sample: str
    predicted: pd.DataFrame  # tiles x genes or cell types
    centres: np.ndarray  # (tiles, 2) level-0 slide pixels
    side_level0: float  # tile side in level-0 pixels
    tiles_per_s: float
    grid: dict = field(default_factory=dict)  # the tile file's geometry attributes
    details: dict = field(default_factory=dict)  # e.g. what was clipped, the bundle applied


def _meta(p) -> dict:
    seed = {} if getattr(p, "seed", None) is None else {"seed": int(p.seed)}
    return {"model": p.model, "fold": int(p.fold), "sample": p.sample} | seed


def write_spot_prediction(p: SpotPrediction, path) -> None:
    out = ad.AnnData(
        X=p.predicted.to_numpy(np.float32),
        obs=pd.DataFrame(index=p.predicted.index.astype(str)),
        var=pd.DataFrame(index=p.predicted.columns.astype(str)),
    )
    out.layers["target"] = p.target.loc[p.predicted.index, p.predicted.columns].to_numpy(np.float32)
    out.obsm["spatial"] = np.asarray(p.spatial, np.float64)
    out.uns["prediction"] = _meta(p) | {"target": p.target_name, **p.details}
    with atomic_path(path) as tmp:
        out.write_h5ad(tmp)


def read_spot_prediction(path) -> SpotPrediction:
    a = ad.read_h5ad(path)
    meta = dict(a.uns["prediction"])
    model, fold, sample, target_name = (meta.pop(k) for k in ("model", "fold", "sample", "target"))
    seed = meta.pop("seed", None)
    target = pd.DataFrame(a.layers["target"], index=a.obs_names, columns=a.var_names)
    return SpotPrediction(
        model,
        int(fold),
        sample,
        a.to_df(),
        target,
        target_name,
        np.asarray(a.obsm["spatial"]),
        meta,
        None if seed is None else int(seed),
    )


def write_tile_prediction(p: TilePrediction, path) -> None:
    out = ad.AnnData(
        X=p.predicted.to_numpy(np.float32),
        obs=pd.DataFrame(index=p.predicted.index.astype(str)),
        var=pd.DataFrame(index=p.predicted.columns.astype(str)),
    )
    out.obsm["spatial"] = np.asarray(p.centres, np.float64)
    out.uns["tiles"] = {"tile_side_level0": float(p.side_level0), "tiles_per_s": float(p.tiles_per_s), **p.grid}
    out.uns["prediction"] = {"model": p.model, "split": p.split, "sample": p.sample} | p.details
    with atomic_path(path) as tmp:
        out.write_h5ad(tmp)


def read_tile_prediction(path) -> TilePrediction:
    a = ad.read_h5ad(path)
    grid = dict(a.uns["tiles"])
    side, rate = float(grid.pop("tile_side_level0")), float(grid.pop("tiles_per_s"))
    meta = dict(a.uns["prediction"])
    model, split, sample = (meta.pop(k) for k in ("model", "split", "sample"))
    return TilePrediction(model, str(split), sample, a.to_df(), np.asarray(a.obsm["spatial"]), side, rate, grid, meta)


def seed_phrase(predictions) -> str:
    """The training seed of the models whose predictions a figure shows (the first seed's, the
    model's own folder, when ``train.seeds`` trains several), for its title."""
    seeds = sorted({p.seed for p in predictions if p.seed is not None})
    return f"models of training seed {', '.join(map(str, seeds))}" if seeds else ""


def tile_provenance(split: str, train_samples: list[str], final_bundle: str = "") -> dict:
    """What a whole-slide prediction of this run records about its model: the slides it learnt
    from and, for the final model, the bundle that holds it."""
    return {"train_samples": list(train_samples)} | (
        {"bundle": final_bundle} if split == "final" and final_bundle else {}
    )
