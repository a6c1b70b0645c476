import torch

from stpath import logs
from stpath.device import torch_device
from stpath.expression.settings import ExpressionSettings
from stpath.expression.wholeslide import from_run, make_bundle, map_genes
from stpath.genes.files import read_gene_set
from stpath.training.data import load_expression
from stpath.wsi.scale import ImageScale
from stpath.wsi.stain import read_stain_fit

logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
settings = ExpressionSettings.from_config(snakemake.params.models)
genes = read_gene_set(snakemake.input.genes, settings.gene_set)
samples = snakemake.params.samples
expression, _ = load_expression(samples, snakemake.input.patches, snakemake.input.expression, genes)
columns = map_genes(
    genes,
    list(settings.markers),
    expression.numpy(),
    settings.eval_genes,
    list(settings.map_genes),
    snakemake.input.genes,
)
predictor = from_run(
    snakemake.wildcards.model,
    settings,
    snakemake.input.checkpoint,
    genes,
    expression,
    torch_device(settings.accelerator),
)
stain = snakemake.input.get("stain_target")
make_bundle(
    predictor,
    settings,
    snakemake.input.checkpoint,
    dataset=snakemake.config["dataset"],
    training_samples=samples,
    scale=ImageScale.from_config(snakemake.params.scale),
    stain=read_stain_fit(stain).record() if stain else {},
    columns=columns,
    folder=snakemake.output[0],
)
