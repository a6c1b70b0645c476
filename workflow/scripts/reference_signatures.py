from pathlib import Path

import torch

from stpath import logs
from stpath.atomic import atomic_path
from stpath.deconvolution import figures
from stpath.deconvolution.reference import GeneFilter, ReferenceSpec, RegressionParams, fit_signatures, load_reference
from stpath.device import log_peak_memory, pick_accelerator

logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
ref = snakemake.params.reference
root = Path(snakemake.params.data_root)
spec = ReferenceSpec(
    path=root / ref["path"],
    labels=root / ref["labels"] if ref["labels"] else None,
    label_column=ref["label_column"],
    batch_column=ref["batch_column"],
    layer=ref["layer"],
)
reference = load_reference(spec)  # every input check runs before training
accelerator = pick_accelerator(snakemake.params.accelerator)
signatures, history = fit_signatures(
    reference,
    GeneFilter(**snakemake.params.gene_filter),
    RegressionParams(**snakemake.params.regression),
    accelerator,
    snakemake.params.seed,
)
with atomic_path(snakemake.output.signatures) as tmp:
    signatures.to_csv(tmp, sep="\t", float_format="%.6g")
with atomic_path(snakemake.output.history) as tmp:
    history.to_csv(tmp, sep="\t", index_label="epoch")
with atomic_path(snakemake.output.elbo) as tmp:
    figures.elbo_history(history, f"Reference regression (RegressionModel), {reference.n_obs} cells, {signatures.shape[1]} types", tmp)
log_peak_memory("reference_signatures")
