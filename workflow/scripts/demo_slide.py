import logging
from pathlib import Path

from stpath import logs
from stpath.atomic import atomic_path
from stpath.demo import synth, write

logs.to_file(snakemake.log[0])
params = synth.DemoSettings.from_config(snakemake.params.demo)
seed = snakemake.params.demo["seed"]
sig = synth.signatures(seed, params.n_genes)
slide = synth.slide(seed, snakemake.wildcards.sample, snakemake.params.patient, sig, params)
logging.info(
    "%s: %d in-tissue spots, %.1f cells/spot",
    snakemake.wildcards.sample,
    len(slide.abundance),
    slide.abundance.sum(1).mean(),
)
write.write_pyramid_tiff(snakemake.output.slide, slide.image, params.um_per_px)
write.write_spaceranger(
    Path(snakemake.output.matrix).parent, slide.image, slide.spots, slide.counts, list(sig.columns), params.um_per_px
)
with atomic_path(snakemake.output.truth) as tmp:
    slide.abundance.to_csv(tmp, sep="\t", index_label="barcode")
