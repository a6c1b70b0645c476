import anndata as ad
import h5py

from stpath import logs
from stpath.atomic import atomic_path
from stpath.deconvolution import figures

logs.to_file(snakemake.log[0])
adata = ad.read_h5ad(snakemake.input.adata)
estimate = snakemake.params.estimate
thumbnail, downsample = None, 1.0
if snakemake.input.tiles:
    with h5py.File(snakemake.input.tiles, "r") as f:
        thumbnail = f["thumbnail"][:]
        downsample = float(f.attrs["thumbnail_downsample"])
meta = adata.uns["stpath"]
spot_px = meta.get("spot_diameter_px")
title = f"{meta['sample']}: cell2location abundance ({estimate}, cells per spot)"
with atomic_path(snakemake.output[0]) as tmp:
    figures.abundance_maps(
        adata.obsm[f"abundance_{estimate}"], adata.obsm["spatial"], tmp, title, thumbnail, downsample,
        spot_px if spot_px == spot_px else None,  # NaN when the format does not store it
    )
