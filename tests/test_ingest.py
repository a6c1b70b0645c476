import shutil

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from stpath.errors import InputError
from stpath.ingest.ingest import QC, ingest
from stpath.ingest.ingested import read_sample_info, write_ingested
from stpath.ingest.readers import read_spots
from stpath.ingest.sheet import Sample

from conftest import FAST_GZIP, shared


def her2st_sample(section="C2", **kw):
    root = shared("her2st")
    args = dict(
        sample=section,
        patient="C",
        slide=root / "images" / f"{section}.jpg",
        expression=root / "counts" / f"{section}.tsv.gz",
        format="legacy_st",
        spots=root / "spots" / f"{section}_selection.tsv",
    )
    args.update(kw)
    return Sample(**args)


def test_real_visium_folder():
    table = read_spots("visium", shared("visium_tiny"))
    a = table.adata
    assert a.shape == (100, 100)
    assert a.X.dtype == np.int32
    pos = pd.read_csv(shared("visium_tiny", "spatial", "tissue_positions_list.csv"), header=None, index_col=0)
    # Space Ranger columns: in_tissue, array_row, array_col, pxl_row, pxl_col -> obsm is (x=col, y=row)
    assert np.array_equal(a.obsm["spatial"], pos.loc[a.obs_names, [5, 4]].to_numpy(float))
    assert table.positions.spot_diameter_px == pytest.approx(89.4275, rel=1e-4)
    # Space Ranger's diameter is a 65 um spot: it and the 100 um pitch (137 px) give the same pixel size
    diameter, pitch = table.positions.pixel_sizes
    assert diameter.value == pytest.approx(65 / 89.42751063343188)
    assert pitch.value == pytest.approx(100 / 137.0) and diameter.value == pytest.approx(pitch.value, rel=0.01)


def test_real_legacy_st_ingest(tmp_path):
    a = ingest(her2st_sample("C3"), QC(min_counts=100))
    write_ingested(a, tmp_path / "C3.h5ad")
    meta = read_sample_info(tmp_path / "C3.h5ad")
    assert meta == read_sample_info(a) and meta.sample == "C3"
    assert meta.um_per_px == pytest.approx(0.687, abs=0.01)
    assert "spot pitch" in meta.um_per_px_source
    assert meta.n_spots_unmatched == 2  # one counted spot without selection row and vice versa
    assert meta.spot_diameter_px == pytest.approx(100 / meta.um_per_px)
    sel = pd.read_csv(shared("her2st", "spots", "C3_selection.tsv"), sep="\t")
    sel.index = [f"{x}x{y}" for x, y in zip(sel.x, sel.y)]
    assert np.allclose(a.obsm["spatial"], sel.loc[a.obs_names, ["pixel_x", "pixel_y"]].to_numpy())
    counts = pd.read_csv(shared("her2st", "counts", "C3.tsv.gz"), sep="\t", index_col=0)
    assert np.array_equal(a[:, "ERBB2"].X.toarray().ravel(), counts.loc[a.obs_names, "ERBB2"].to_numpy())


def test_override_beats_derived_pixel_size():
    a = ingest(her2st_sample("C2", um_per_px=0.7), QC())
    assert read_sample_info(a).um_per_px == 0.7


def test_demo_visium_ingest(demo_slide):
    s = Sample("T1", "P1", demo_slide["slide"], demo_slide["spaceranger"], "visium")
    a = ingest(s, QC())
    info = read_sample_info(a)
    assert info.um_per_px_source == "slide metadata" and info.spot_diameter_px == pytest.approx(130.0)
    truth = demo_slide["data"]
    assert a.n_obs == len(truth.abundance)
    assert np.array_equal(a.X.toarray(), truth.counts.toarray())


def _hest(tmp_path, demo_slide, with_mpp=True):
    d = demo_slide["data"]
    spots = d.spots[d.spots.in_tissue == 1]
    a = ad.AnnData(
        X=d.counts.astype(np.float32),
        obs=pd.DataFrame(index=spots.index),
        var=pd.DataFrame(index=demo_slide["sig"].columns),
    )
    a.obsm["spatial"] = spots[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(float)
    a.write_h5ad(tmp_path / "TENX0.h5ad")
    slide = demo_slide["slide"]
    if not with_mpp:
        from PIL import Image

        Image.fromarray(d.image).save(tmp_path / "TENX0.png")
        slide = tmp_path / "TENX0.png"
    return Sample("TENX0", "P9", slide, tmp_path / "TENX0.h5ad", "hest")


def test_hest_sample(tmp_path, demo_slide):
    a = ingest(_hest(tmp_path, demo_slide), QC())
    assert a.n_obs == len(demo_slide["data"].abundance)
    assert read_sample_info(a).um_per_px == 0.5


# --- bad input: each fails before compute, naming the file and the fix --------------------------
def test_slide_without_pixel_size_is_refused(tmp_path, demo_slide):
    with pytest.raises(
        InputError, match=r"TENX0.png: sample TENX0: the pixel size \(um/px\) is unknown.*Fix: add .*um_per_px"
    ):
        ingest(_hest(tmp_path, demo_slide, with_mpp=False), QC())


def test_spots_outside_slide(tmp_path):
    sel = pd.read_csv(shared("her2st", "spots", "C2_selection.tsv"), sep="\t")
    sel["pixel_x"] *= 3  # e.g. coordinates of another image resolution
    sel.to_csv(tmp_path / "C2_selection.tsv", sep="\t", index=False)
    with pytest.raises(
        InputError, match=r"C2_selection.tsv: \d+ of \d+ spot centres lie outside the slide.*Fix: give spot coordinates"
    ):
        ingest(her2st_sample(spots=tmp_path / "C2_selection.tsv"), QC())


def test_counts_and_spots_do_not_match(tmp_path):
    sel = pd.read_csv(shared("her2st", "spots", "C2_selection.tsv"), sep="\t")
    sel["x"] += 100
    sel.to_csv(tmp_path / "sel.tsv", sep="\t", index=False)
    with pytest.raises(
        InputError,
        match=r"C2.tsv.gz: only 0 of the 187 counted spots have a position in .*sel.tsv.*Fix: pair each counts file",
    ):
        read_spots("legacy_st", shared("her2st", "counts", "C2.tsv.gz"), tmp_path / "sel.tsv")


def test_visium_barcodes_not_in_positions(tmp_path):
    folder = tmp_path / "vis"
    shutil.copytree(shared("visium_tiny"), folder)
    pos = folder / "spatial" / "tissue_positions_list.csv"
    lines = pos.read_text().splitlines()
    pos.write_text("\n".join("X" + line for line in lines) + "\n")
    with pytest.raises(
        InputError, match=r"filtered_feature_bc_matrix.h5: only 0 of the 100 counted spots have a position"
    ):
        read_spots("visium", folder)


def test_non_integer_counts(tmp_path):
    counts = pd.read_csv(shared("her2st", "counts", "C2.tsv.gz"), sep="\t", index_col=0)
    np.log1p(counts).to_csv(tmp_path / "C2.tsv.gz", sep="\t", compression=FAST_GZIP)
    with pytest.raises(
        InputError, match="C2.tsv.gz: counts are not raw non-negative integers.*Fix: point the sample sheet at the raw"
    ):
        read_spots("legacy_st", tmp_path / "C2.tsv.gz", shared("her2st", "spots", "C2_selection.tsv"))


def test_duplicate_barcodes(tmp_path):
    folder = tmp_path / "vis"
    shutil.copytree(shared("visium_tiny"), folder)
    pos = folder / "spatial" / "tissue_positions_list.csv"
    lines = pos.read_text().splitlines()
    pos.write_text("\n".join(lines + [lines[0]]) + "\n")
    with pytest.raises(InputError, match="tissue_positions_list.csv: 1 duplicate barcode"):
        read_spots("visium", folder)


def test_duplicate_spot_ids_in_counts(tmp_path):
    counts = pd.read_csv(shared("her2st", "counts", "C2.tsv.gz"), sep="\t", index_col=0)
    pd.concat([counts, counts.iloc[:2]]).to_csv(tmp_path / "dup.tsv", sep="\t")
    with pytest.raises(InputError, match="dup.tsv: 2 duplicate spot id"):
        read_spots("legacy_st", tmp_path / "dup.tsv", shared("her2st", "spots", "C2_selection.tsv"))


def test_hest_metadata_gives_the_pixel_size_and_is_checked_against_the_slide(tmp_path, demo_slide):
    """HEST-1k's layout (st/<id>.h5ad, metadata/<id>.json): a PNG that stores no pixel size needs no
    um_per_px in the sheet, the metadata's estimate and spot diameter (55 um over 110 px) give it;
    metadata that contradicts the slide is refused naming both."""
    import json

    d = demo_slide["data"]
    spots = d.spots[d.spots.in_tissue == 1]
    (tmp_path / "st").mkdir()
    (tmp_path / "metadata").mkdir()
    a = ad.AnnData(
        X=d.counts.astype(np.float32),
        obs=pd.DataFrame(index=spots.index),
        var=pd.DataFrame(index=demo_slide["sig"].columns),
    )
    a.obsm["spatial"] = spots[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(float)
    a.uns["spatial"] = {"TENX0": {"scalefactors": {"spot_diameter_fullres": 110.0}}}
    a.write_h5ad(tmp_path / "st" / "TENX0.h5ad")
    (tmp_path / "metadata" / "TENX0.json").write_text(
        json.dumps({"pixel_size_um_estimated": 0.5, "spot_diameter": 55.0, "st_technology": "Visium"})
    )
    from PIL import Image

    Image.fromarray(d.image).save(tmp_path / "TENX0.png")
    info = read_sample_info(
        ingest(Sample("TENX0", "P9", tmp_path / "TENX0.png", tmp_path / "st" / "TENX0.h5ad", "hest"), QC())
    )
    assert info.um_per_px == 0.5 and info.um_per_px_source == "HEST metadata pixel_size_um_estimated"
    (tmp_path / "metadata" / "TENX0.json").write_text(
        json.dumps({"pixel_size_um_estimated": 1.0, "spot_diameter": 55.0})
    )
    with pytest.raises(
        InputError,
        match=r"TENX0.h5ad: sample TENX0: the pixel size sources disagree by more than 20% \(slide metadata: 0.5; HEST metadata pixel_size_um_estimated: 1;",
    ):
        ingest(Sample("TENX0", "P9", demo_slide["slide"], tmp_path / "st" / "TENX0.h5ad", "hest"), QC())


def test_spot_qc_marks_spots_that_are_scored_not_trained_on(tmp_path):
    """HER2ST's QC (min_counts 100, min_genes 50) fails 2 of C2's 187 spots. They stay in the
    ingested sample marked qc_pass False: models train and retrieve on the 185 that pass, a held-out
    section is scored on all 187 (as the releases score every spot). The normalisation of the
    passing spots and the gene sets are those of the 185 alone."""
    import scipy.sparse as sp

    from stpath.genes.selection import GeneSetSettings, normalise, write_gene_sets
    from stpath.ingest.ingested import qc_passing
    from stpath.training.data import load_expression, load_spots
    from stpath.wsi.patches import write_patches_h5

    a = ingest(her2st_sample("C2"), QC(min_counts=100, min_genes=50, min_spots=3))
    passing = qc_passing(a)
    assert a.n_obs == 187 and int(passing.sum()) == 185 == read_sample_info(a).n_spots_after_qc
    x = a.X.toarray() if sp.issparse(a.X) else a.X
    assert ((x.sum(1) < 100) | ((x > 0).sum(1) < 50) == ~passing).all()
    alone = normalise(a[passing].copy())
    assert np.allclose(normalise(a)[passing].X.toarray(), alone.X.toarray(), atol=1e-6)

    write_ingested(a, tmp_path / "C2.h5ad")
    write_gene_sets(
        [tmp_path / "C2.h5ad"],
        tmp_path / "genes.tsv",
        [tmp_path / "C2_norm.h5ad"],
        GeneSetSettings(hvg_per_sample=50, top_expressed=50),
    )
    genes = pd.read_csv(tmp_path / "genes.tsv", sep="\t")
    heg = genes.gene[genes.top_expressed].tolist()
    mean = np.asarray(alone[:, genes.gene].X.mean(axis=0)).ravel()
    assert set(heg) == set(genes.gene[np.argsort(-mean, kind="stable")[:50]])
    images = np.zeros((a.n_obs, 8, 8, 3), np.uint8)
    write_patches_h5(tmp_path / "C2.h5", images, a.obsm["spatial"], a.obs_names.to_numpy(), {"patch_size": 8})
    args = (["C2"], [tmp_path / "C2.h5"], [tmp_path / "C2_norm.h5ad"], heg)
    assert len(load_spots(*args)) == 185 and len(load_expression(*args)[0]) == 185
    scored = load_spots(*args, scored=True)
    assert len(scored) == 187 and set(scored.barcode) == set(a.obs_names)
