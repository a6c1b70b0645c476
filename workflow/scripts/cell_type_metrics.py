import anndata as ad
import pandas as pd

from stpath import logs
from stpath.abundance.colocalisation import compare_slides
from stpath.abundance.metrics import evaluate_predictions
from stpath.atomic import atomic_path
from stpath.deconvolution.truth import read_truth

logs.to_file(snakemake.log[0])
predictions = [ad.read_h5ad(p) for p in snakemake.input.predictions]
truth = read_truth(snakemake.input.truth, snakemake.params.truth_samples) if snakemake.input.truth else None
label_name = "cell2location_{estimate}".format(**snakemake.params.labels)
summary, per_type = evaluate_predictions(predictions, label_name, truth)
colocalisation, matrices = compare_slides(predictions, label_name)
tables = (pd.concat([colocalisation, summary], ignore_index=True), per_type, matrices)
for path, table in zip(snakemake.output, tables):
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
