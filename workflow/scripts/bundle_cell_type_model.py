from stpath import logs
from stpath.celltypes.settings import CellTypeSettings
from stpath.celltypes.wholeslide import from_run, make_bundle
from stpath.deconvolution.output import read_cell_types
from stpath.device import torch_device
from stpath.genes.files import read_gene_set
from stpath.wsi.scale import ImageScale
from stpath.wsi.stain import read_stain_fit

logs.to_file(snakemake.log[0])
settings = CellTypeSettings.from_config(snakemake.params.models)
genes = read_gene_set(snakemake.input.genes, settings.gene_set)
predictor = from_run(
    snakemake.wildcards.cell_model,
    settings,
    snakemake.input.checkpoint,
    genes,
    read_cell_types(snakemake.input.labels),
    torch_device("cpu"),
)
stain = snakemake.input.get("stain_target")
make_bundle(
    predictor,
    settings,
    snakemake.input.checkpoint,
    dataset=snakemake.config["dataset"],
    training_samples=snakemake.params.samples,
    scale=ImageScale.from_config(snakemake.params.scale),
    stain=read_stain_fit(stain).record() if stain else {},
    folder=snakemake.output[0],
)
