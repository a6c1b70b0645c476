from stpath import logs
from stpath.atomic import atomic_path
from stpath.ingest import QC, ingest

logs.to_file(snakemake.log[0])
adata = ingest(snakemake.params.sample, QC(**snakemake.params.qc))
with atomic_path(snakemake.output[0]) as tmp:
    adata.write_h5ad(tmp)
