"""The labelled single-cell reference and its per-cell-type expression signatures
(cell2location's negative-binomial ``RegressionModel``); the signature table is written and read by
``signatures``."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import pandas as pd
import scanpy as sc

from ..errors import InputError
from ..ingest.tables import check_raw_counts, is_raw_counts, orient_counts, read_table
from .progress import trainer_kwargs

log = logging.getLogger(__name__)

COUNTS_FIX = (
    "give raw UMI counts of the reference (for an .h5ad whose X is normalised, set "
    "deconvolution.reference.layer to the layer that holds the raw counts)"
)


@dataclass(frozen=True)
class ReferenceSpec:
    path: Path  # .h5ad, 10x .h5, 10x mtx folder, or a CSV/TSV counts table
    label_column: str
    labels: Path | None = None  # table of labels (cell id first) when they are not in the .h5ad
    batch_column: str = ""  # donor / batch covariate of the regression, "" for none
    layer: str = ""  # .h5ad layer holding raw counts, "" for X
    max_unlabelled: float = 0.1  # share of cells that may lack a label (dropped); more is refused

    @classmethod
    def from_config(cls, section: dict, data_root) -> "ReferenceSpec":
        """From deconvolution.reference; its paths are relative to ``data_root``."""
        root = Path(data_root)
        return cls(
            path=root / section["path"],
            labels=root / section["labels"] if section["labels"] else None,
            label_column=section["label_column"],
            batch_column=section["batch_column"],
            layer=section["layer"],
            max_unlabelled=section.get("max_unlabelled", 0.1),
        )


@dataclass(frozen=True)
class GeneFilter:
    """cell2location.utils.filtering.filter_genes cut-offs (the tutorial's values)."""

    cell_count_cutoff: int = 5
    cell_percentage_cutoff2: float = 0.03
    nonz_mean_cutoff: float = 1.12

    @classmethod
    def from_config(cls, section: dict) -> "GeneFilter":
        return cls(**section)


@dataclass(frozen=True)
class RegressionSettings:
    max_epochs: int = 250
    batch_size: int = 2500
    lr: float = 0.002
    num_samples: int = 1000  # posterior samples for the exported signatures

    @classmethod
    def from_config(cls, section: dict) -> "RegressionSettings":
        return cls(**section)


def load_reference(spec: ReferenceSpec) -> ad.AnnData:
    """Raw-count reference with ``obs['label']`` (and ``obs['batch']``), checked before any training."""
    table = read_table(spec.labels) if spec.labels is not None else None
    adata = _read_counts(spec, table)
    label_source = spec.labels or spec.path
    if table is not None:
        table.index = table.index.astype(str)
        _require_column(table, spec.label_column, spec.labels, "label_column")
        if spec.batch_column:
            _require_column(table, spec.batch_column, spec.labels, "batch_column")
        shared = adata.obs_names.intersection(table.index)
        if len(shared) == 0:
            raise InputError(
                spec.labels,
                f"no cell id matches the counts {spec.path.name} (e.g. {list(table.index[:2])} vs {list(adata.obs_names[:2])})",
                "give the labels table of the same cells, cell id in the first column",
            )
        labels = table[spec.label_column].reindex(adata.obs_names)  # NaN: no row in the table
        for col in {spec.label_column, spec.batch_column} - {""}:
            adata.obs[col] = table[col].reindex(adata.obs_names).to_numpy()
    else:
        _require_column(adata.obs, spec.label_column, spec.path, "label_column")
        if spec.batch_column:
            _require_column(adata.obs, spec.batch_column, spec.path, "batch_column")
        labels = adata.obs[spec.label_column]

    unlabelled = labels.isna().to_numpy() | (labels.astype(str).str.strip().isin(["", "nan"])).to_numpy()
    if unlabelled.any():
        _check_unlabelled(spec, label_source, labels, unlabelled)
        adata = adata[~unlabelled].copy()
    adata.obs["label"] = pd.Categorical(adata.obs[spec.label_column].astype(str))
    types = adata.obs["label"].cat.categories
    if len(types) < 2:
        raise InputError(
            label_source,
            f"column {spec.label_column!r} holds a single cell type ({list(types)}); deconvolution needs at least 2",
            "use a reference annotated with the cell types of the tissue, or point label_column at the fine-grained labels",
        )
    if spec.batch_column:
        adata.obs["batch"] = pd.Categorical(adata.obs[spec.batch_column].astype(str))
    counts = adata.obs["label"].value_counts()
    log.info(
        "reference: %d cells x %d genes, %d cell types (%d-%d cells each)",
        adata.n_obs,
        adata.n_vars,
        len(types),
        counts.min(),
        counts.max(),
    )
    return adata


def _check_unlabelled(spec: ReferenceSpec, source, labels: pd.Series, unlabelled) -> None:
    """Cells without a label are dropped with a warning that names how many and which types stay;
    above ``spec.max_unlabelled`` of the cells, refused: whole types may be among them."""
    n, total = int(unlabelled.sum()), len(unlabelled)
    kept = sorted(pd.Series(labels[~unlabelled]).astype(str).unique())
    where = "no row in the labels table" if spec.labels is not None else "an empty label"
    problem = (
        f"{n} of {total} reference cells ({n / total:.0%}) have {where} or an empty {spec.label_column!r}, e.g. "
        f"{list(labels.index[unlabelled][:2])}; the other cells hold {len(kept)} cell type(s): {kept[:8]}"
    )
    if n / total > spec.max_unlabelled:
        raise InputError(
            source,
            problem,
            f"label every cell (column {spec.label_column!r}), or raise deconvolution.reference.max_unlabelled "
            f"({spec.max_unlabelled:g}) to drop the unlabelled ones",
        )
    log.warning("%s: %s; they are dropped", source, problem)


def is_cellxgene(adata: ad.AnnData) -> bool:
    """An AnnData in the CELLxGENE schema (the portal's datasets, e.g. the Human Breast Cell Atlas):
    Ensembl ids in the index, gene symbols in ``var['feature_name']``, a schema version in ``uns``."""
    return "feature_name" in adata.var and "schema_version" in adata.uns


def from_cellxgene(adata: ad.AnnData, path, layer: str = "") -> ad.AnnData:
    """The raw counts of a CELLxGENE file with gene symbols as names: ``raw.X`` (the schema puts
    the counts there when ``X`` is normalised), or ``layer``, or ``X`` when it holds the counts
    itself; its cells' metadata (``cell_type``, ``donor_id``, ``sample_id``, ...) kept. A file
    whose only matrix is normalised is refused: cell2location needs counts."""
    if layer:
        if layer not in adata.layers:
            raise InputError(
                path,
                f"no layer {layer!r}; layers are {list(adata.layers)}",
                "set deconvolution.reference.layer to one of them, or ''",
            )
        counts, var = adata.layers[layer], adata.var
    elif adata.raw is not None:
        counts, var = adata.raw.X, adata.raw.var
    elif is_raw_counts(adata.X):
        counts, var = adata.X, adata.var
    else:
        raise InputError(
            path,
            "a CELLxGENE file whose X is normalised and that has no raw.X: its raw counts are not in it",
            "download the dataset's file with raw counts (the portal's .h5ad keeps them in raw.X), or name the "
            "layer that holds them in deconvolution.reference.layer",
        )
    symbols = (var["feature_name"] if "feature_name" in var else adata.var["feature_name"].reindex(var.index)).astype(
        str
    )
    out = ad.AnnData(
        X=counts, obs=adata.obs.copy(), var=pd.DataFrame({"gene_id": var.index.astype(str)}, index=symbols.to_numpy())
    )
    log.info(
        "%s: CELLxGENE schema %s, raw counts of %d cells x %d genes, named by feature_name",
        path,
        adata.uns["schema_version"],
        out.n_obs,
        out.n_vars,
    )
    return out


def _read_counts(spec: ReferenceSpec, labels: pd.DataFrame | None) -> ad.AnnData:
    path = spec.path
    if not path.exists():
        raise InputError(
            path,
            "single-cell reference not found",
            "set deconvolution.reference.path (relative to data_root) to an existing file",
        )
    name = path.name.lower()
    try:
        if name.endswith(".h5ad"):
            adata = ad.read_h5ad(path)
            if is_cellxgene(adata):
                adata = from_cellxgene(adata, path, spec.layer)
            elif spec.layer:
                if spec.layer not in adata.layers:
                    raise InputError(
                        path,
                        f"no layer {spec.layer!r}; layers are {list(adata.layers)}",
                        "set deconvolution.reference.layer to one of them, or '' for X",
                    )
                adata.X = adata.layers[spec.layer]
        elif name.endswith(".h5"):
            adata = sc.read_10x_h5(path)
        elif path.is_dir():
            adata = sc.read_10x_mtx(path)
        elif any(name.endswith(s) for s in (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt")):
            if labels is None:
                raise InputError(
                    path,
                    "a counts table needs a labels table",
                    "set deconvolution.reference.labels to the cell-type table of these cells",
                )
            table = orient_counts(read_table(path), labels.index, path, "cell")
            adata = ad.AnnData(
                X=table.to_numpy(),
                obs=pd.DataFrame(index=table.index.astype(str)),
                var=pd.DataFrame(index=table.columns.astype(str)),
            )
        else:
            raise InputError(
                path,
                "unknown reference format",
                "give an .h5ad, a 10x .h5 or matrix folder, or a CSV/TSV counts table with a labels table",
            )
    except InputError:
        raise
    except Exception as exc:  # a corrupt file: report which one, whatever the parser raised
        raise InputError(
            path,
            f"cannot be read ({type(exc).__name__}: {exc})",
            "check that the file is complete and in the format its extension says",
        ) from None
    adata.X = check_raw_counts(adata.X, path, COUNTS_FIX)
    adata.var_names_make_unique()
    return adata


def _require_column(frame: pd.DataFrame, column: str, path: Path, key: str) -> None:
    if column not in frame.columns:
        raise InputError(
            path,
            f"no column {column!r}; its columns are {list(frame.columns)[:20]}",
            f"set deconvolution.reference.{key} to the column that holds it",
        )


def fit_signatures(
    reference: ad.AnnData, genes: GeneFilter, params: RegressionSettings, accelerator: str, seed: int
) -> tuple[pd.DataFrame, pd.Series]:
    """Per-type mean expression (genes x types, posterior means of ``per_cluster_mu_fg``) and the
    ELBO history of the regression (training time in ``history.attrs["train_seconds"]``)."""
    import matplotlib.pyplot as plt
    import scvi
    from cell2location.models import RegressionModel
    from cell2location.utils.filtering import filter_genes

    selected = filter_genes(reference, **vars(genes))
    plt.close("all")  # filter_genes draws its cut-off plot on the current figure
    log.info("gene filter kept %d of %d reference genes", len(selected), reference.n_vars)
    if len(selected) == 0:
        raise InputError(
            None, "the reference gene filter removed every gene", "lower deconvolution.gene_filter cut-offs"
        )
    ref = reference[:, selected].copy()
    scvi.settings.seed = seed
    RegressionModel.setup_anndata(ref, labels_key="label", batch_key="batch" if "batch" in ref.obs else None)
    model = RegressionModel(ref)
    start = time.perf_counter()
    model.train(
        max_epochs=params.max_epochs,
        batch_size=params.batch_size,
        lr=params.lr,
        train_size=1,
        accelerator=accelerator,
        **trainer_kwargs("RegressionModel", params.max_epochs),
    )
    seconds = time.perf_counter() - start
    log.info(
        "RegressionModel: %d epochs in %.1f s (%.2f epochs/s)", params.max_epochs, seconds, params.max_epochs / seconds
    )
    ref = model.export_posterior(
        ref,
        sample_kwargs={"num_samples": params.num_samples, "batch_size": params.batch_size, "accelerator": accelerator},
    )
    names = list(ref.uns["mod"]["factor_names"])
    signatures = ref.varm["means_per_cluster_mu_fg"][[f"means_per_cluster_mu_fg_{n}" for n in names]].copy()
    signatures.columns = names
    signatures.index.name = "gene"
    history = model.history["elbo_train"].iloc[:, 0].rename("elbo_train")
    history.attrs["train_seconds"] = seconds
    return signatures, history
