import logging

import anndata as ad

from stpath import logs
from stpath.deconvolution.output import save_labels
from stpath.deconvolution.published import ESTIMATE, PublishedTier, check_published

logs.to_file(snakemake.log[0])
sample, name = snakemake.wildcards.sample, snakemake.wildcards.tier
tier = PublishedTier(name, **snakemake.params.tier)
ingested = ad.read_h5ad(snakemake.input.ingested)
table = check_published(
    tier, {sample: snakemake.input.table}, {sample: ingested.obs_names}, snakemake.params.min_matched
)[sample]
spots = table.index.intersection(ingested.obs_names)
save_labels(ingested, {f"proportion_{ESTIMATE}": table.loc[spots]}, snakemake.output[0])
logging.getLogger("stpath.published_labels").info(
    "%s: %d of %d spots labelled by the published %s tier (%d types)",
    sample,
    len(spots),
    ingested.n_obs,
    name,
    table.shape[1],
)
