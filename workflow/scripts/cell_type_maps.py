import anndata as ad
import h5py
import pandas as pd

from stpath import logs
from stpath.abundance import figures
from stpath.atomic import atomic_path

logs.to_file(snakemake.log[0])
predictions = [ad.read_h5ad(p) for p in snakemake.input.predictions]
first = predictions[0]
panels = {"cell2location labels": pd.DataFrame(first.layers["label"], index=first.obs_names, columns=first.var_names)}
if snakemake.input.truth:
    truth = pd.read_csv(snakemake.input.truth[0], sep="\t", index_col=0)
    truth.index = truth.index.astype(str)
    panels["truth"] = truth.reindex(index=first.obs_names, columns=first.var_names)
panels |= {a.uns["prediction"]["model"]: a.to_df() for a in predictions}
with h5py.File(snakemake.input.tiles, "r") as f:
    thumbnail, downsample = f["thumbnail"][:], float(f.attrs["thumbnail_downsample"])
spot_px = ad.read_h5ad(snakemake.input.labels, backed="r").uns["stpath"].get("spot_diameter_px")
sample, fold = first.uns["prediction"]["sample"], first.uns["prediction"]["fold"]
with atomic_path(snakemake.output[0]) as tmp:
    figures.prediction_maps(
        tmp, f"{sample} (held out in fold {fold}): cell-type abundance, labels vs predicted from the H&E",
        panels, figures.major_types(panels["cell2location labels"], snakemake.params.map_types), first.obsm["spatial"],
        thumbnail, downsample, spot_px if spot_px == spot_px and spot_px else 20.0,
    )
