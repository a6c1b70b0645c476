import logging

from stpath import logs
from stpath.atomic import atomic_path
from stpath.deconvolution import checks, figures
from stpath.deconvolution.output import read_results
from stpath.deconvolution.signatures import read_signature_table
from stpath.manifest import job_files

logs.to_file(snakemake.log[0])
files = job_files(snakemake)  # the section files come through an index
estimate = snakemake.params.estimate
results = read_results(files["adata"])
signatures = read_signature_table(snakemake.input.signatures)
table = checks.marker_check(results.estimates[estimate], results.counts, signatures, snakemake.params.n_markers)
logging.getLogger("stpath.marker_check").info(
    "mean r over types: %.3f\n%s", table.pearson_r.iloc[-1], table.to_string(index=False)
)
with atomic_path(snakemake.output.table) as tmp:
    table.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
with atomic_path(snakemake.output.figure) as tmp:
    figures.per_type_bars(
        table,
        "pearson_r",
        f"Abundance ({estimate}) vs summed expression of the top reference markers, per cell type",
        "Pearson r across spots",
        tmp,
    )
