"""Write demo data in the formats real instruments produce: a pyramidal tiled TIFF with its pixel
size, and a Space Ranger ``outs`` folder."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp
import tifffile
from PIL import Image

from ..atomic import atomic_path


def write_pyramid_tiff(
    path: str | Path, image: np.ndarray, um_per_px: float, tile: int = 256, min_side: int = 512
) -> None:
    """Tiled, JPEG-compressed TIFF with a 2x pyramid in successive IFDs (what OpenSlide's generic
    TIFF driver reads) and the pixel size in the resolution tags (pixels per centimetre)."""
    px_per_cm = 1e4 / um_per_px
    with atomic_path(path) as tmp:
        with tifffile.TiffWriter(tmp, bigtiff=image.nbytes > 2**31) as tif:
            level, factor = image, 1
            while True:
                tif.write(
                    level,
                    tile=(tile, tile),
                    photometric="rgb",
                    compression="jpeg",
                    compressionargs={"level": 90},
                    resolution=(px_per_cm / factor, px_per_cm / factor),
                    resolutionunit="CENTIMETER",
                    subfiletype=0 if factor == 1 else 1,
                    description="stpath demo slide" if factor == 1 else None,
                    metadata=None,
                )
                if max(level.shape[:2]) // 2 < min_side:
                    break
                level = np.asarray(Image.fromarray(level).reduce(2))
                factor *= 2


def write_10x_h5(
    path: str | Path, counts: sp.csr_matrix, barcodes, genes, library_id: str, genome: str = "demo"
) -> None:
    """Space Ranger's filtered_feature_bc_matrix.h5 (matrix stored genes x barcodes, CSC)."""
    m = sp.csr_matrix(counts, dtype=np.int32)  # spots x genes CSR == genes x spots CSC
    n_genes = len(genes)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["filetype"] = np.array([b"matrix"])
            f.attrs["version"] = np.array([2], dtype=np.int32)
            f.attrs["library_ids"] = np.array([library_id.encode()])
            f.attrs["chemistry_description"] = np.array([b"Spatial 3' v1"])
            f.attrs["software_version"] = "stpath-demo"
            g = f.create_group("matrix")
            g.create_dataset("barcodes", data=np.asarray(barcodes, dtype="S"))
            g.create_dataset("data", data=m.data)
            g.create_dataset("indices", data=m.indices.astype(np.int64))
            g.create_dataset("indptr", data=m.indptr.astype(np.int64))
            g.create_dataset("shape", data=np.array([n_genes, m.shape[0]], dtype=np.int32))
            feats = g.create_group("features")
            feats.create_dataset("id", data=np.asarray([f"DEMO{i:05d}" for i in range(n_genes)], dtype="S"))
            feats.create_dataset("name", data=np.asarray(genes, dtype="S"))
            feats.create_dataset("feature_type", data=np.asarray(["Gene Expression"] * n_genes, dtype="S"))
            feats.create_dataset("genome", data=np.asarray([genome] * n_genes, dtype="S"))
            feats.create_dataset("_all_tag_keys", data=np.asarray(["genome"], dtype="S"))


def write_spaceranger(
    folder: str | Path, image: np.ndarray, spots: pd.DataFrame, counts, genes, um_per_px: float
) -> None:
    """Space Ranger 2.x 'outs' layout: matrix, tissue_positions.csv (with header), scale factors and
    the low/high-resolution images."""
    folder = Path(folder)
    spatial = folder / "spatial"
    spatial.mkdir(parents=True, exist_ok=True)
    in_tissue = spots[spots.in_tissue == 1]
    write_10x_h5(folder / "filtered_feature_bc_matrix.h5", counts, in_tissue.index, genes, folder.name)
    with atomic_path(spatial / "tissue_positions.csv") as tmp:
        spots[["in_tissue", "array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres"]].to_csv(tmp)
    side = max(image.shape[:2])
    # Space Ranger's spot_diameter_fullres spans a theoretical 65 um spot (the physical spot is 55 um)
    factors = {"spot_diameter_fullres": 65.0 / um_per_px, "fiducial_diameter_fullres": 89.5 / um_per_px}
    for name, target in (("hires", 2000), ("lowres", 600)):
        scale = min(1.0, target / side)
        factors[f"tissue_{name}_scalef"] = scale
        small = Image.fromarray(image).resize(
            (round(image.shape[1] * scale), round(image.shape[0] * scale)), Image.Resampling.LANCZOS
        )
        with atomic_path(spatial / f"tissue_{name}_image.png") as tmp:
            small.save(tmp, format="PNG", compress_level=1)  # the default level takes seconds
    with atomic_path(spatial / "scalefactors_json.json") as tmp:
        tmp.write_text(json.dumps(factors, indent=2))
