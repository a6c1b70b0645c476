"""A published per-spot cell-type table (e.g. the HER2ST authors' stereoscope proportions, Andersson
et al. 2021) as an input: one table per sample and annotation tier, spots x types.

Owner of reading and checking those tables (``read_published``, ``check_published``), of the label
map from a reference's labels to a table's names (``tier_of_types``, ``aggregate``), and of the
external check of this run's deconvolution against them with its floor, a signature NNLS
(``compare``, ``nnls_proportions``). The labels CUCA learns from a table are written as a
deconvolution output (``output.save_labels``). Light: pandas, numpy (scipy when comparing)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

log = logging.getLogger(__name__)

ESTIMATE = "published"  # the labels' obsm key is proportion_published
NNLS = "signature_nnls"
NNLS_GENES = 3000  # the floor's most type-specific genes


@dataclass(frozen=True)
class PublishedTier:
    """One annotation tier of the published tables."""

    name: str
    table: str  # path pattern under data_root with {sample}
    label_column: str = ""  # the reference's column the label map's keys come from ("" = deconvolution's)
    label_map: Mapping[str, str] = field(default_factory=dict)  # reference label -> table name; unlisted: same name

    def path(self, data_root, sample: str) -> Path:
        return Path(data_root) / self.table.format(sample=sample)


@dataclass(frozen=True)
class PublishedSettings:
    """The config's ``published_deconvolution`` section."""

    tiers: Mapping[str, PublishedTier] = field(default_factory=dict)
    estimate: str = "mean"  # this run's cell2location estimate compared
    map_sample: str = ""  # the section of the maps ("" = the first)
    map_tier: str = ""  # the tier of the maps ("" = the first)
    map_types: int = 4

    @property
    def active(self) -> bool:
        return bool(self.tiers)

    def tier(self, name: str) -> PublishedTier:
        return self.tiers[name]

    @classmethod
    def from_config(cls, section: dict) -> "PublishedSettings":
        tiers = {
            name: PublishedTier(name, t["table"], t.get("label_column", ""), dict(t.get("label_map", {})))
            for name, t in section.get("tiers", {}).items()
        }
        rest = {k: section[k] for k in ("estimate", "map_sample", "map_tier", "map_types") if k in section}
        return cls(tiers=tiers, **rest)


def read_published(path) -> pd.DataFrame:
    """A published table: spots x types, spot ids as strings, type names stripped of surrounding
    spaces (the HER2ST minor tier has 'NK cells '). Refuses what cannot be proportions."""
    path = Path(path)
    fix = "give a tab-separated table with the spot ids in the first column and one numeric column per cell type (proportions or abundances, >= 0)"
    try:
        table = pd.read_csv(path, sep="\t", index_col=0)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a readable table ({exc})", fix) from None
    if table.empty or table.shape[1] < 2:
        raise InputError(
            path,
            f"{table.shape[0]} spots x {table.shape[1]} cell types: a table needs spots and at least two types (is it comma-separated?)",
            fix,
        )
    table.columns = [str(c).strip() for c in table.columns]
    table.index = table.index.astype(str).str.strip()
    for what, names in (("cell type", table.columns), ("spot id", table.index)):
        duplicated = names[names.duplicated()]
        if len(duplicated):
            raise InputError(
                path,
                f"the {what} {duplicated[0]!r} appears {int((names == duplicated[0]).sum())} times",
                f"keep one column or row per {what}",
            )
    values = table.apply(pd.to_numeric, errors="coerce")
    bad = values.isna() & table.notna()
    if bad.any().any():
        col = bad.any().idxmax()
        raise InputError(path, f"the column {col!r} holds text, e.g. {table.loc[bad[col], col].iloc[0]!r}", fix)
    array = values.to_numpy(float)
    if not np.isfinite(array).all():
        row, col = np.argwhere(~np.isfinite(array))[0]
        raise InputError(
            path,
            f"{int((~np.isfinite(array)).sum())} values are missing or infinite, e.g. spot {table.index[row]!r}, type {table.columns[col]!r}",
            "fill them (0 for an absent type) or remove those spots",
        )
    if (array < 0).any():
        row, col = np.argwhere(array < 0)[0]
        raise InputError(
            path,
            f"{int((array < 0).sum())} values are negative, e.g. {array[row, col]:g} for spot {table.index[row]!r}, type {table.columns[col]!r}",
            "give proportions or abundances (>= 0); a negative value is not one",
        )
    return values.astype(float)


def check_published(
    tier: PublishedTier,
    paths: Mapping[str, Path],
    spot_ids: Mapping[str, pd.Index],
    min_matched: float,
    reference_labels=None,
) -> dict[str, pd.DataFrame]:
    """Every sample's table of ``tier`` read and checked against the sample's spots (``spot_ids``),
    the other samples' types and the label map; returns the tables. ``reference_labels``: the
    labels of the reference's ``tier.label_column`` (None: not known here)."""
    tables, types = {}, None
    for sample, path in paths.items():
        ids = pd.Index(spot_ids[sample]).astype(str)
        table = with_spot_ids_of(read_published(path), ids, path)
        shared = table.index.intersection(ids)
        share_spots, share_table = len(shared) / max(len(ids), 1), len(shared) / len(table)
        if min(share_spots, share_table) < min_matched:
            raise InputError(
                path,
                f"its spots do not match sample {sample}'s: {len(shared)} shared of the table's {len(table)} and the sample's {len(ids)} spots "
                f"(e.g. table {list(table.index[~table.index.isin(ids)][:2])}, sample {list(ids[:2])})",
                f"give each sample its own section's table (published_deconvolution.tiers.{tier.name}.table: {tier.table!r}, "
                f"with {{sample}} for the sample's name) with the spot ids of its expression file; qc.min_matched_spots ({min_matched:g}) sets the share required",
            )
        if types is None:
            types, first = list(table.columns), path
        elif set(table.columns) != set(types):
            raise InputError(
                path,
                f"its cell types differ from {first}'s: {sorted(set(table.columns) ^ set(types))}",
                "give every sample's table of a tier the same cell types",
            )
        tables[sample] = table[types]
    seen = {}
    for sample, table in tables.items():
        key = pd.util.hash_pandas_object(table, index=True).sum()
        if key in seen and tables[seen[key]].equals(table):
            raise InputError(
                paths[sample],
                f"samples {seen[key]} and {sample} are given the same table ({paths[seen[key]]} holds the same spots and values)",
                f"give each sample its own section's table: put {{sample}} in published_deconvolution.tiers.{tier.name}.table",
            )
        seen[key] = sample
    missing = sorted(set(tier.label_map.values()) - set(types or []))
    if missing:
        raise InputError(
            first,
            f"published_deconvolution.tiers.{tier.name}.label_map names {missing}, which are not cell types of the table (it has {types})",
            "spell the map's values as the table's column names",
        )
    if reference_labels is not None:
        unknown = sorted(set(tier.label_map) - set(reference_labels))
        if unknown:
            raise InputError(
                None,
                f"published_deconvolution.tiers.{tier.name}.label_map names {unknown}, which are not labels of the reference's column {tier.label_column!r} (it has {sorted(reference_labels)})",
                "spell the map's keys as the reference's labels, or set the tier's label_column to the column they come from",
            )
    return tables


_BARCODE_SUFFIX = r"-\d+$"  # Space Ranger's GEM-well suffix of a barcode ("ACGT...-1")


def with_spot_ids_of(table: pd.DataFrame, ids: pd.Index, path) -> pd.DataFrame:
    """``table`` with its spots named as the sample's: a table written with Space Ranger barcodes
    without their ``-1`` suffix (or with one where the sample has none) is matched on the bare
    barcode, when that names each spot once, and renamed to the sample's ids (with a warning)."""
    if len(table.index.intersection(ids)) or not len(ids):
        return table
    bare_table = table.index.str.replace(_BARCODE_SUFFIX, "", regex=True)
    bare_ids = ids.str.replace(_BARCODE_SUFFIX, "", regex=True)
    if bare_table.equals(table.index) and bare_ids.equals(ids):
        return table  # no suffix on either side: nothing to reconcile
    if bare_ids.has_duplicates or bare_table.has_duplicates:
        return table  # several GEM wells: the suffix carries the spot's identity
    to_sample = pd.Series(ids, index=bare_ids)
    matched = bare_table.isin(bare_ids)
    if not matched.any():
        return table
    log.warning(
        "%s: its spot ids and the sample's differ only by Space Ranger's -N suffix (e.g. table %r, sample %r); "
        "matched on the bare barcode",
        path,
        table.index[0],
        ids[0],
    )
    renamed = table.copy()
    renamed.index = pd.Index([to_sample[b] if m else t for t, b, m in zip(table.index, bare_table, matched)])
    return renamed


def tier_of_types(reference_obs: pd.DataFrame | None, run_column: str, tier: PublishedTier) -> dict[str, str]:
    """The table's name of each of this run's cell types (labels of ``run_column``): through the
    reference's ``tier.label_column`` (each run type -> the one label its cells carry there), then
    the label map. Without a reference (signatures given) the tier's column must be the run's.
    Raises ``CoarserTypes`` when a run type's cells carry several labels of the tier (a minor tier
    against a major-tier run): that tier is not compared."""
    column = tier.label_column or run_column
    if column == run_column or reference_obs is None:
        if column != run_column:
            raise InputError(
                None,
                f"published_deconvolution.tiers.{tier.name}.label_column {column!r} needs the reference's cells, but only signatures are given",
                f"leave label_column empty and map the signatures' types ({run_column}) in label_map",
            )
        return {}
    pairs = reference_obs.groupby([run_column, column], observed=True).size().rename("cells").reset_index()
    split = pairs[run_column].value_counts()
    if (split > 1).any():
        raise CoarserTypes(
            f"this run's types ({run_column}) are coarser than the tier's ({column}): e.g. {split.idxmax()!r} spans {int(split.max())} of its labels"
        )
    return dict(zip(pairs[run_column].astype(str), pairs[column].astype(str)))


class CoarserTypes(ValueError):
    """A tier finer than this run's cell types: its table cannot be compared type by type."""


def aggregate(ours: pd.DataFrame, to_tier: Mapping[str, str], label_map: Mapping[str, str]) -> pd.DataFrame:
    """This run's proportions (spots x run types) summed into the table's types: run type ->
    tier label (``to_tier``; identity when empty) -> table name (``label_map``; unlisted names
    stay). Several types may merge (Cancer + Normal Epithelial -> Epithelial)."""
    names = [label_map.get(to_tier.get(t, t), to_tier.get(t, t)) for t in ours.columns]
    return ours.T.groupby(names, sort=False).sum().T


def _correlations(a: pd.Series, b: pd.Series) -> tuple[float, float]:
    from scipy import (
        stats,  # not at import: the workflow's parse-time checks run without torch, which scipy.stats probes
    )

    if a.std() == 0 or b.std() == 0:
        return float("nan"), float("nan")
    return float(stats.pearsonr(a, b)[0]), float(stats.spearmanr(a, b)[0])


def compare(estimates: Mapping[str, pd.DataFrame], published: pd.DataFrame, section: str, tier: str) -> pd.DataFrame:
    """Per method and type shared with the published table: Pearson and Spearman across the
    section's spots (those in both), and a ``mean`` row over types per method."""
    rows = []
    for method, ours in estimates.items():
        spots = ours.index.intersection(published.index)
        types = [t for t in published.columns if t in ours.columns]
        part = []
        for t in types:
            r, rho = _correlations(ours.loc[spots, t], published.loc[spots, t])
            part.append((tier, section, t, method, r, rho, len(spots)))
        rows += part
        frame = pd.DataFrame(part)
        rows.append(
            (tier, section, "mean", method, float(np.nanmean(frame[4])), float(np.nanmean(frame[5])), len(spots))
        )
    return pd.DataFrame(rows, columns=["tier", "section", "type", "method", "pearson", "spearman", "n_spots"])


def nnls_proportions(counts: pd.DataFrame, signatures: pd.DataFrame, n_genes: int = NNLS_GENES) -> pd.DataFrame:
    """The floor any deconvolution should beat: each spot's library-normalised counts regressed,
    without intercept and non-negative, on the types' library-normalised signatures over the
    ``n_genes`` most type-specific genes both have (a signature's highest value over its mean over
    types); the coefficients, turned from shares of transcripts into cells, scaled to sum 1."""
    from scipy import optimize

    genes = counts.columns.intersection(signatures.index)
    basis = signatures.loc[genes].to_numpy(float)
    specific = np.argsort(-(basis / (basis.mean(axis=1, keepdims=True) + 1e-12)).max(axis=1), kind="stable")[:n_genes]
    totals = basis[specific].sum(axis=0)
    x = counts[genes].to_numpy(float)[:, specific]
    x = x / np.maximum(x.sum(axis=1, keepdims=True), 1e-12)
    # solved on shares of transcripts, then back to cells: a type's share over its own total
    coef = np.stack([optimize.nnls(basis[specific] / totals, spot)[0] for spot in x]) / totals
    total = coef.sum(axis=1, keepdims=True)
    return pd.DataFrame(
        np.divide(coef, total, out=np.zeros_like(coef), where=total > 0), index=counts.index, columns=signatures.columns
    )


def section_rows(frame: pd.DataFrame, sample_of: pd.Series, sample: str) -> pd.DataFrame:
    """The rows of ``frame`` (spots keyed ``sample:spot``) of one section, keyed by its own spot ids."""
    keep = (sample_of == sample).to_numpy()
    return frame.loc[keep].set_axis([k.split(":", 1)[1] for k in sample_of.index[keep]])


def external_check(
    proportions: pd.DataFrame,
    nnls: pd.DataFrame,
    sample_of: pd.Series,
    published: Mapping[str, Mapping[str, pd.DataFrame]],
    tiers: Mapping[str, PublishedTier],
    to_tier: Mapping[str, Mapping[str, str]],
    method: str,
) -> pd.DataFrame:
    """The check table: per tier, section, method (this run's ``method`` and the NNLS floor) and
    published type, Pearson and Spearman across the section's spots. ``proportions`` and ``nnls``
    are spots (keyed ``sample:spot``) x this run's types; ``published[tier][sample]`` the tables."""
    parts = []
    for name, tier in tiers.items():
        for sample, table in published[name].items():
            ours = {
                m: aggregate(section_rows(frame, sample_of, sample), to_tier[name], tier.label_map)
                for m, frame in ((method, proportions), (NNLS, nnls))
            }
            unmatched = sorted(set(table.columns) - set(ours[method].columns))
            if unmatched:
                log.info(
                    "%s tier %s: published types without a counterpart in this run's reference: %s",
                    sample,
                    name,
                    unmatched,
                )
            parts.append(compare(ours, table, sample, name))
    return pd.concat(parts, ignore_index=True)


def check_summary(check: pd.DataFrame) -> pd.DataFrame:
    """Mean over types per tier, method and section, and over sections ('all')."""
    means = check[check["type"] == "mean"].pivot_table(
        index=["tier", "method"], columns="section", values="pearson", sort=False
    )
    means["all"] = means.mean(axis=1)
    return means
