"""The deconvolution output of a sample, light enough for every later stage to read (no model
libraries). Owner of ``deconvolution/{sample}.h5ad`` (the ingested sample with ``obsm`` frames
``{abundance,proportion}_{q05,q50,q95,mean}`` and ``uns["cell_types"]``) and
``deconvolution/{sample}_abundance.tsv``: ``save_sample`` writes them (``save_labels``, the
AnnData alone, also writes a published table's labels, ``deconvolution/published/{tier}/{sample}.h5ad``); ``read_estimate``,
``read_results`` and ``read_cell_types`` read them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..errors import InputError
from .truth import spot_key

QUANTILES = ("q05", "q50", "q95")
ESTIMATES = QUANTILES + ("mean",)
KINDS = ("abundance", "proportion")


def proportions(abundance: pd.DataFrame) -> pd.DataFrame:
    total = abundance.sum(axis=1).replace(0, np.nan)
    return abundance.div(total, axis=0).fillna(0.0)


def sample_tables(
    estimates: dict[str, pd.DataFrame], sample: str, spot_ids
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """One sample's estimates re-indexed by its own spot ids: obsm frames (abundance_* and
    proportion_*) and the long-by-estimate TSV table (spot, estimate, one column per type)."""
    keys = [spot_key(sample, b) for b in spot_ids]
    obsm, rows = {}, []
    for name, frame in estimates.items():
        part = frame.loc[keys].set_axis(list(spot_ids), axis=0)
        obsm[f"abundance_{name}"] = part
        obsm[f"proportion_{name}"] = proportions(part)
        for kind in ("abundance", "proportion"):
            table = obsm[f"{kind}_{name}"].copy()
            table.insert(0, "estimate", f"{kind}_{name}")
            rows.append(table)
    table = pd.concat(rows)
    table.index.name = "spot"
    return obsm, table.reset_index()


def save_sample(
    ingested: ad.AnnData, obsm: dict[str, pd.DataFrame], table: pd.DataFrame, h5ad_path: Path, tsv_path: Path
) -> None:
    """The sample's ingested AnnData with the estimates in ``obsm`` and its cell types in ``uns``,
    and the long TSV table."""
    save_labels(ingested, obsm, h5ad_path)
    with atomic_path(tsv_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.5g")


def save_labels(ingested: ad.AnnData, obsm: dict[str, pd.DataFrame], h5ad_path: Path) -> None:
    """The ingested spots that ``obsm``'s frames cover, with the frames and the cell types: the
    deconvolution output's layout, also for labels taken from a published table."""
    first = next(iter(obsm.values()))
    out = ingested[ingested.obs_names.isin(first.index)].copy()
    for key, frame in obsm.items():
        out.obsm[key] = frame.loc[out.obs_names]
    out.uns["cell_types"] = list(first.columns)
    with atomic_path(h5ad_path) as tmp:
        out.write_h5ad(tmp)


def read_estimate(
    path,
    estimate: str,
    kind: str = "abundance",
    fix: str = "set cell_type_models.labels to an estimate the deconvolution stage writes",
) -> pd.DataFrame:
    """Spots x cell types: ``kind`` (abundance or proportion) ``estimate`` (q05, q50, q95, mean)."""
    key = f"{kind}_{estimate}"
    obsm = ad.read_h5ad(path, backed="r").obsm
    if key not in obsm:
        raise InputError(path, f"no obsm['{key}'] in the deconvolution output (it has {sorted(obsm)})", fix)
    return obsm[key]


def read_cell_types(path) -> list[str]:
    return list(ad.read_h5ad(path, backed="r").uns["cell_types"])


@dataclass
class Results:
    """The deconvolution outputs of all samples, stacked; spots keyed ``sample:spot``."""

    estimates: dict[str, pd.DataFrame]  # estimate -> spots x types
    counts: pd.DataFrame  # spots x genes, raw counts (genes shared by all samples)
    sample_of: pd.Series  # spot key -> sample


def read_results(paths) -> Results:
    samples = [ad.read_h5ad(p) for p in paths]
    keys = [pd.Index([spot_key(s, b) for s, b in zip(a.obs["sample"].astype(str), a.obs_names)]) for a in samples]
    estimates = {e: pd.concat([a.obsm[f"abundance_{e}"].set_axis(k) for a, k in zip(samples, keys)]) for e in ESTIMATES}
    counts = pd.concat([a.to_df().set_axis(k) for a, k in zip(samples, keys)], join="inner")
    sample_of = pd.concat([a.obs["sample"].astype(str).set_axis(k) for a, k in zip(samples, keys)])
    return Results(estimates, counts, sample_of)
