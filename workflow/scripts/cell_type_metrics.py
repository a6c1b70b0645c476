import pandas as pd

from stpath import logs
from stpath.celltypes.colocalisation import MoranSettings, compare_slides
from stpath.celltypes.metrics import evaluate_cell_types
from stpath.deconvolution.truth import read_truth
from stpath.ingest.ingested import read_sample_info
from stpath.manifest import job_files
from stpath.metrics import by_seed, label_patients, write_table
from stpath.predictions import read_spot_prediction

logs.to_file(snakemake.log[0])
files = job_files(snakemake)  # the section files come through an index
predictions = [read_spot_prediction(p) for p in files["predictions"]]
truth = read_truth(snakemake.input.truth, snakemake.params.truth_samples) if snakemake.input.truth else None
summary, per_type = by_seed(predictions, lambda some: evaluate_cell_types(some, truth))
um_per_px = {s: read_sample_info(path).um_per_px for s, path in zip(snakemake.params.samples, files["labels"])}
moran = MoranSettings.from_config(snakemake.params.colocalisation)
colocalisation, matrices = by_seed(predictions, lambda some: compare_slides(some, um_per_px, moran))
folds = pd.DataFrame(snakemake.params.folds)
write_table(label_patients(pd.concat([colocalisation, summary], ignore_index=True), folds), snakemake.output.summary)
write_table(label_patients(per_type, folds), snakemake.output.per_type)
write_table(matrices, snakemake.output.colocalisation)
