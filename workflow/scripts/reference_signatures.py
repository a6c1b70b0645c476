import torch

from stpath import logs
from stpath.atomic import atomic_path
from stpath.deconvolution import figures
from stpath.deconvolution.reference import (
    GeneFilter,
    ReferenceSpec,
    RegressionSettings,
    fit_signatures,
    load_reference,
)
from stpath.deconvolution.signatures import write_signatures
from stpath.device import log_peak_memory, pick_accelerator

logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
reference = load_reference(
    ReferenceSpec.from_config(snakemake.params.reference, snakemake.params.data_root)
)  # every input check runs before training
accelerator = pick_accelerator(snakemake.params.accelerator)
signatures, history = fit_signatures(
    reference,
    GeneFilter.from_config(snakemake.params.gene_filter),
    RegressionSettings.from_config(snakemake.params.regression),
    accelerator,
    snakemake.params.seed,
)
write_signatures(signatures, snakemake.output.signatures)
with atomic_path(snakemake.output.history) as tmp:
    history.to_csv(tmp, sep="\t", index_label="epoch")
with atomic_path(snakemake.output.elbo) as tmp:
    figures.elbo_history(
        history, f"Reference regression (RegressionModel), {reference.n_obs} cells, {signatures.shape[1]} types", tmp
    )
log_peak_memory("reference_signatures")
