"""Spatial mapping: cell2location over all samples of a dataset jointly (``batch_key`` = sample),
exported as posterior quantiles (``use_quantiles``) and means of the abundances ``w_sf``
(written per sample by ``output``)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd

from ..errors import InputError
from .output import QUANTILES
from .progress import trainer_kwargs
from .truth import spot_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MappingSettings:
    """cell2location's tutorial defaults."""

    N_cells_per_location: float = 30
    detection_alpha: float = 20
    max_epochs: int = 30000
    batch_size: int | None = None  # None: full batch (all spots on the device)
    lr: float = 0.002
    num_samples: int = 1000  # posterior samples for the means

    @classmethod
    def from_config(cls, section: dict) -> "MappingSettings":
        return cls(**section)


def spatial_input(
    samples: list[ad.AnnData], signatures: pd.DataFrame, min_shared: int, signatures_path
) -> tuple[ad.AnnData, pd.DataFrame]:
    """All samples' raw counts over the genes they share with the signatures (mitochondrial genes
    removed, as the tutorial does), spot ids prefixed by sample, and the matching signatures."""
    renamed = []
    for a in samples:
        a = a.copy()
        a.obs_names = [spot_key(s, b) for s, b in zip(a.obs["sample"], a.obs_names)]
        renamed.append(a)
    adata = ad.concat(renamed, join="inner")
    mito = adata.var_names.str.upper().str.startswith("MT-")
    if mito.any():
        log.info("removing %d mitochondrial genes from the spatial data", int(mito.sum()))
        adata = adata[:, ~mito].copy()
    shared = adata.var_names.intersection(signatures.index)
    if len(shared) < min_shared:
        raise InputError(
            signatures_path,
            f"only {len(shared)} genes are shared between the cell-type signatures ({len(signatures)} genes, e.g. "
            f"{list(signatures.index[:3])}) and the spatial data ({adata.n_vars} genes, e.g. {list(adata.var_names[:3])}); "
            f"at least {min_shared} are needed",
            "use the same gene identifiers (symbols or Ensembl ids, same species) in the reference and the sample "
            "sheet's expression files, or lower deconvolution.min_shared_genes",
        )
    shared = adata.var_names[adata.var_names.isin(shared)]
    log.info(
        "%d spots from %d samples, %d genes shared with %d signatures",
        adata.n_obs,
        len(samples),
        len(shared),
        signatures.shape[1],
    )
    return adata[:, shared].copy(), signatures.loc[shared]


def fit(adata: ad.AnnData, signatures: pd.DataFrame, params: MappingSettings, accelerator: str, seed: int):
    import scvi
    from cell2location.models import Cell2location

    scvi.settings.seed = seed
    Cell2location.setup_anndata(adata, batch_key="sample")
    model = Cell2location(
        adata,
        cell_state_df=signatures,
        N_cells_per_location=params.N_cells_per_location,
        detection_alpha=params.detection_alpha,
    )
    start = time.perf_counter()
    model.train(
        max_epochs=params.max_epochs,
        batch_size=params.batch_size,
        lr=params.lr,
        train_size=1,
        accelerator=accelerator,
        **trainer_kwargs("Cell2location", params.max_epochs),
    )
    seconds = time.perf_counter() - start
    log.info(
        "Cell2location: %d spots x %d genes x %d types, %d epochs in %.1f s (%.2f epochs/s)",
        adata.n_obs,
        adata.n_vars,
        signatures.shape[1],
        params.max_epochs,
        seconds,
        params.max_epochs / seconds,
    )
    return model


def export(model, adata: ad.AnnData, params: MappingSettings, accelerator: str) -> dict[str, pd.DataFrame]:
    """Abundance estimates (spots x types) for q05, q50, q95 (quantiles of the guide) and the
    posterior mean (from ``num_samples`` samples of ``w_sf`` only)."""
    batch = params.batch_size or adata.n_obs
    model.export_posterior(
        adata,
        sample_kwargs={"batch_size": batch, "accelerator": accelerator},
        add_to_obsm=list(QUANTILES),
        use_quantiles=True,
    )
    names = list(model.factor_names_)
    out = {}
    for q in QUANTILES:
        frame = adata.obsm[f"{q}_cell_abundance_w_sf"].copy()
        frame.columns = names
        out[q] = frame
    samples = model.sample_posterior(
        num_samples=params.num_samples,
        return_sites=["w_sf"],
        batch_size=batch,
        accelerator=accelerator,
        summary_fun={"post_sample_means": np.mean},
    )
    means = model.sample2df_obs(samples, site_name="w_sf", summary_name="means", name_prefix="cell_abundance")
    means.columns = names
    out["mean"] = means.loc[adata.obs_names]
    return out


def expected_counts(model, n_spots: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Observed counts and the model's expected counts (posterior medians) for a seeded spot subset:
    the data of cell2location's reconstruction-accuracy plot."""
    from scvi import REGISTRY_KEYS

    n_obs = model.adata.n_obs
    idx = np.sort(np.random.default_rng(seed).choice(n_obs, min(n_spots, n_obs), replace=False))
    mu = model.module.model.compute_expected(model.samples["post_sample_q50"], model.adata_manager, ind_x=idx)["mu"]
    x = model.adata_manager.get_from_registry(REGISTRY_KEYS.X_KEY)[idx]
    x = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
    return x, np.asarray(mu)
