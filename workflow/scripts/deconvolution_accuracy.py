import logging

from stpath import logs
from stpath.atomic import atomic_path
from stpath.deconvolution import checks, figures
from stpath.deconvolution.output import read_results
from stpath.deconvolution.truth import read_truth
from stpath.manifest import job_files

logs.to_file(snakemake.log[0])
files = job_files(snakemake)  # the section files come through an index
results = read_results(files["adata"])
truth = read_truth(snakemake.input.truth, results.sample_of.unique())
table = checks.accuracy(results.estimates, truth, results.sample_of)
pooled = table[(table["sample"] == "all") & (table.cell_type == "mean")]
logging.getLogger("stpath.accuracy").info(
    "mean Pearson r over cell types, all spots:\n%s", pooled.to_string(index=False)
)
with atomic_path(snakemake.output.table) as tmp:
    table.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
with atomic_path(snakemake.output.figure) as tmp:
    shown = table[(table["sample"] == "all") & table.estimate.isin(["q05", "mean"])]
    shown = shown.assign(series=shown.estimate + " " + shown.measure)
    figures.per_type_bars(
        shown, "pearson_r", "cell2location vs true abundances (all spots)", "Pearson r across spots", tmp, hue="series"
    )
