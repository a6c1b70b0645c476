from stpath import logs
from stpath.atomic import atomic_path
from stpath.demo import synth

logs.to_file(snakemake.log[0])
params = synth.DemoSettings.from_config(snakemake.params.demo)
seed = snakemake.params.demo["seed"]
sig = synth.signatures(seed, params.n_genes)
with atomic_path(snakemake.output.signatures) as tmp:
    sig.T.to_csv(tmp, sep="\t", index_label="gene")
with atomic_path(snakemake.output.reference) as tmp:
    synth.reference(seed, sig, params).write_h5ad(tmp)
