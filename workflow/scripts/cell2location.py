import logging
from pathlib import Path

import anndata as ad
import torch

from stpath import logs
from stpath.atomic import atomic_path
from stpath.deconvolution import figures, mapping
from stpath.deconvolution.output import sample_tables, save_sample
from stpath.deconvolution.signatures import read_signature_table
from stpath.device import log_peak_memory, pick_accelerator
from stpath.manifest import job_files, write_index

logs.to_file(snakemake.log[0])
files = job_files(snakemake)  # the section files come through an index
log = logging.getLogger("stpath.cell2location")
torch.set_num_threads(snakemake.threads)
params = mapping.MappingSettings.from_config(snakemake.params.mapping)

ingested = [ad.read_h5ad(p) for p in files["ingested"]]
signatures = read_signature_table(snakemake.input.signatures)
adata, signatures = mapping.spatial_input(
    ingested, signatures, snakemake.params.min_shared_genes, snakemake.params.signatures_source
)
accelerator = pick_accelerator(snakemake.params.accelerator)
model = mapping.fit(adata, signatures, params, accelerator, snakemake.params.seed)
estimates = mapping.export(model, adata, params, accelerator)

observed, expected = mapping.expected_counts(model)
with atomic_path(snakemake.output.reconstruction) as tmp:
    r = figures.reconstruction(observed, expected, tmp)
log.info("reconstruction: Pearson r %.3f between log observed and expected counts", r)
history = model.history["elbo_train"].iloc[:, 0].rename("elbo_train")
with atomic_path(snakemake.output.history) as tmp:
    history.to_csv(tmp, sep="\t", index_label="epoch")
with atomic_path(snakemake.output.elbo) as tmp:
    title = f"Spatial mapping (Cell2location), {adata.n_obs} spots x {adata.n_vars} genes x {signatures.shape[1]} types"
    figures.elbo_history(history, title, tmp)

for name, sample, h5ad_path, tsv_path in zip(
    snakemake.params.samples, ingested, snakemake.output.h5ad, snakemake.output.tsv
):
    obsm, table = sample_tables(estimates, name, sample.obs_names)
    save_sample(sample, obsm, table, Path(h5ad_path), Path(tsv_path))
    log.info(
        "%s: %d spots, mean total abundance (q05) %.1f", name, sample.n_obs, obsm["abundance_q05"].sum(axis=1).mean()
    )
write_index(snakemake.output.index, dict(zip(snakemake.params.samples, snakemake.output.h5ad)))
log_peak_memory("cell2location")
