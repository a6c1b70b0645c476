import anndata as ad
import pandas as pd

from stpath import logs
from stpath.abundance.colocalisation import agreement, enrichment
from stpath.abundance.metrics import evaluate
from stpath.atomic import atomic_path
from stpath.deconvolution.truth import read_truth, spot_key
from stpath.expression_metrics import COLUMNS

logs.to_file(snakemake.log[0])
predictions = [ad.read_h5ad(p) for p in snakemake.input.predictions]
truth = read_truth(snakemake.input.truth, snakemake.params.truth_samples) if snakemake.input.truth else None
summary, per_type, matrices = [], [], []
label_name = "cell2location_{estimate}".format(**snakemake.params.labels)
by_model_fold: dict = {}
label_enrichment: dict = {}
for a in predictions:
    meta = a.uns["prediction"]
    keys = [spot_key(meta["sample"], b) for b in a.obs_names]
    frames = by_model_fold.setdefault((meta["model"], int(meta["fold"])), {"pred": [], "label": [], "sample": []})
    frames["pred"].append(a.to_df().set_axis(keys))
    frames["label"].append(pd.DataFrame(a.layers["label"], index=keys, columns=a.var_names))
    frames["sample"].append(pd.Series(meta["sample"], index=keys))
    # co-localisation on the slide: predictions vs labels (the labels' matrix once per slide)
    pred_z = enrichment(a.to_df(), a.obsm["spatial"])
    if meta["sample"] not in label_enrichment:
        labels = pd.DataFrame(a.layers["label"], index=a.obs_names, columns=a.var_names)
        label_enrichment[meta["sample"]] = enrichment(labels, a.obsm["spatial"])
    label_z = label_enrichment[meta["sample"]]
    r = agreement(pred_z, label_z)
    summary.append(pd.DataFrame([(meta["model"], label_name, "cell_types", "per_slide", int(meta["fold"]), meta["sample"], "colocalisation_r", r)], columns=COLUMNS))
    for source, z in ((meta["model"], pred_z), ("labels", label_z)):
        long = z.rename_axis(index="type_a", columns="type_b").stack().rename("z").reset_index()
        matrices.append(long.assign(sample=meta["sample"], source=source))
for (model, fold), frames in sorted(by_model_fold.items()):
    pred, label, sample_of = (pd.concat(frames[k]) for k in ("pred", "label", "sample"))
    rows, types = evaluate(pred, label, sample_of, model, label_name, fold)
    summary.append(rows)
    per_type.append(types)
    if truth is not None:  # the demo: the true abundances the slides were drawn from
        reference = truth.loc[pred.index, [t for t in label.columns if t in truth.columns]]
        rows, types = evaluate(pred, reference, sample_of, model, "truth", fold)
        summary.append(rows)
        per_type.append(types)
matrices = pd.concat(matrices, ignore_index=True).drop_duplicates(["sample", "source", "type_a", "type_b"])
for path, table in zip(snakemake.output, (pd.concat(summary, ignore_index=True), pd.concat(per_type, ignore_index=True), matrices)):
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
