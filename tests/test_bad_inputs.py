"""Inputs that are wrong but look valid, as a new user makes them: each is refused before compute
(the pre-flight that ``snakemake -n`` runs: ``check_config``) or by the job that can tell (ingest,
spot patches), naming the file, the values and the fix; or, for legitimate uses, accepted.

The catalogue docs/bad_inputs.md lists every case with the test that pins it; the
last test here keeps the table and the tests in step."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from snakemake.utils import validate

from stpath.checks import check_config, check_schema, check_sheet_schema
from stpath.errors import InputError
from stpath.ingest.ingest import QC, ingest
from stpath.ingest.ingested import read_sample_info
from stpath.ingest.sheet import Sample, read_sheet

from conftest import FAST_GZIP, REPO, config_args, run_snakemake, shared

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
SAMPLES_SCHEMA = REPO / "workflow" / "schemas" / "samples.schema.yaml"
COLUMNS = ["sample", "patient", "slide", "expression", "spots", "format", "um_per_px"]


# --- inputs -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def visium_pair(tmp_path_factory):
    """Two demo Visium sections of one size (the same barcode whitelist, different tissue) with
    pyramidal TIFFs that store 0.5 um/px."""
    from stpath.demo import synth, write

    root = tmp_path_factory.mktemp("visium_pair")
    params = synth.DemoSettings(size_px=1536, n_genes=120)
    sig = synth.signatures(3, params.n_genes)
    slides = {}
    for seed, name, patient in ((3, "T1", "P1"), (11, "T2", "P2")):
        s = synth.slide(seed, name, patient, sig, params)
        write.write_pyramid_tiff(root / f"{name}.tif", s.image, params.um_per_px)
        write.write_spaceranger(root / name, s.image, s.spots, s.counts, list(sig.columns), params.um_per_px)
        slides[name] = s
    return {"root": root, "slides": slides, "genes": list(sig.columns), "params": params}


def sheet_file(tmp_path: Path, rows: list[dict], name="samples.tsv") -> Path:
    path = tmp_path / name
    pd.DataFrame([{c: str(r.get(c, "")) for c in COLUMNS} for r in rows]).to_csv(path, sep="\t", index=False)
    return path


def visium_rows(**changes) -> list[dict]:
    rows = [
        dict(sample=s, patient=p, slide=f"{s}.tif", expression=s, format="visium")
        for s, p in (("T1", "P1"), ("T2", "P2"))
    ]
    rows[0].update(changes)
    return rows


def her2st_rows(section_changes: dict | None = None) -> list[dict]:
    root = shared("her2st")
    rows = [
        dict(
            sample=s,
            patient="C",
            slide=root / "images" / f"{s}.jpg",
            expression=root / "counts" / f"{s}.tsv.gz",
            spots=root / "spots" / f"{s}_selection.tsv",
            format="legacy_st",
        )
        for s in ("C2", "C3")
    ]
    rows[0].update(section_changes or {})
    return rows


def config_for(tmp_path, rows, base="config.yaml", data_root=None, **sections) -> dict:
    """A shipped config pointed at ``rows`` (schema defaults filled, as the workflow does)."""
    config = yaml.safe_load((REPO / "config" / base).read_text())
    config["samples"] = str(sheet_file(tmp_path, rows))
    config["data_root"] = str(data_root or tmp_path)
    config["demo"] = {"generate": False}
    if base == "config.yaml":  # no deconvolution: these samples come without a reference
        config["deconvolution"]["reference"] = {"path": "", "labels": "", "signatures": ""}
        config["deconvolution"]["truth"] = ""
    if base == "her2st.yaml":
        config["folds"]["scheme"] = "leave_one_slide_out"
        config["cell_type_models"]["models"] = []  # the paper's CUCA needs Virchow2's local weight file
    for key, value in sections.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    validate(config, SCHEMA)
    return config


def refused(config) -> str:
    with pytest.raises(InputError) as err:
        check_config(config)
    message = str(err.value)
    assert "Fix:" in message
    return message


def counts_table_sample(tmp_path, visium_pair, um_per_px, slide_png=True) -> Sample:
    """Demo section T1 as a plain counts table + coordinates table, with a PNG (no stored pixel size)."""
    s = visium_pair["slides"]["T1"]
    spots = s.spots[s.spots.in_tissue == 1]
    pd.DataFrame(s.counts.toarray(), index=spots.index, columns=visium_pair["genes"]).to_csv(tmp_path / "counts.csv")
    coords = pd.DataFrame({"x": spots.pxl_col_in_fullres, "y": spots.pxl_row_in_fullres})
    coords.to_csv(tmp_path / "coords.csv")
    Image.fromarray(s.image).save(tmp_path / "T1.png")
    return Sample(
        "T1", "P1", tmp_path / "T1.png", tmp_path / "counts.csv", "counts_table", tmp_path / "coords.csv", um_per_px
    )


# --- silent before: now refused --------------------------------------------------------------------
@pytest.mark.parametrize("um_per_px", [5.0, 0.05])
def test_sheet_pixel_size_that_the_slide_and_spots_contradict(tmp_path, visium_pair, um_per_px):
    message = refused(config_for(tmp_path, visium_rows(um_per_px=um_per_px), data_root=visium_pair["root"]))
    assert (
        f"sample T1: the pixel size sources disagree by more than 20% (sample sheet um_per_px: {um_per_px:g}; slide metadata: 0.5"
        in message
    )
    assert "Visium spot_diameter_fullres (65 um): 0.5;" in message and re.search(
        r"Visium spot pitch \(100 um = 199.\d px\): 0.500", message
    )
    assert (
        f"Fix: correct um_per_px of sample T1 in the sample sheet (the other sources say about 0.5, {0.5 / um_per_px:.3g}x"
        in message
    )


def test_sheet_pixel_size_far_too_small_with_no_second_source(tmp_path, visium_pair):
    """Nothing to compare with (a PNG, a plain table): the spot windows then leave the slide."""
    from stpath.wsi.cut import spot_patches
    from stpath.wsi.scale import ImageScale

    a = ingest(counts_table_sample(tmp_path, visium_pair, um_per_px=0.06), QC())
    with pytest.raises(
        InputError,
        match=r"T1.png: T1: the 112 um window \(1867 slide px at 0.06 um/px\) of \d+ of \d+ spots leaves the slide.*Fix: check the sample's pixel size",
    ):
        spot_patches(tmp_path / "T1.png", a.obsm["spatial"], a.obs_names, 0.06, "T1", ImageScale(), tmp_path / "T1.h5")
    assert not (tmp_path / "T1.h5").exists()


def test_pixel_size_outside_bright_field_range_is_refused(tmp_path, visium_pair):
    with pytest.raises(
        InputError,
        match=r"T1.png: sample T1: the pixel size 0.01 um/px \(sample sheet um_per_px\) is outside the range of bright-field slides \(0.05-20 um/px\).*Fix: correct it",
    ):
        ingest(counts_table_sample(tmp_path, visium_pair, um_per_px=0.01), QC())


@pytest.mark.parametrize(
    "um_per_px, said",
    [
        (
            69,
            "the pixel size 69 um/px (sample sheet um_per_px) is outside the range of bright-field slides (0.05-20 um/px)",
        ),
        (
            3,
            "tiles and patches are cut at 0.5 um/px, 6x finer than the slide's 3 um/px (sample sheet um_per_px); more than qc.max_upsampling (4x) is refused",
        ),
    ],
)
def test_pixel_size_typo_that_would_upsample_is_refused_at_dry_run(tmp_path, visium_pair, um_per_px, said):
    """um_per_px 69 for 0.69 on a PNG with a counts table: nothing contradicts it, and cutting at
    0.5 um/px would upsample the slide 138x (about a million tiles; the tiling job was killed by
    the kernel at 22.8 GB). The dry run refuses it, and any cut that upsamples more than 4x,
    before any job."""
    counts_table_sample(tmp_path, visium_pair, um_per_px=um_per_px)
    rows = [
        dict(
            sample="T1",
            patient="P1",
            slide="T1.png",
            expression="counts.csv",
            spots="coords.csv",
            format="counts_table",
            um_per_px=um_per_px,
        )
    ]
    config = config_for(
        tmp_path,
        rows,
        expression_models={"models": [], "whole_slide": []},
        cell_type_models={"models": [], "whole_slide": []},
    )
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    r = run_snakemake(["-n", "--cores", "1", "--configfile", str(tmp_path / "config.yaml")], tmp_path)
    assert r.returncode != 0 and f"T1.png: sample T1: {said}" in r.stdout, r.stdout[-2000:]
    assert "Fix: " in r.stdout and not (tmp_path / "results").exists()


def test_a_killed_writers_partial_file_is_removed_at_the_next_write(tmp_path):
    """kill -9 cannot run a writer's cleanup: its .partial file is removed by the next writer of
    the same output (a live writer's is left alone)."""
    from stpath.atomic import atomic_path

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".tiles.partial-{dead.pid}.h5"
    stale.write_bytes(b"half")
    live = tmp_path / f".tiles.partial-{os.getppid()}.h5"
    live.write_bytes(b"being written")
    with atomic_path(tmp_path / "tiles.h5") as tmp:
        tmp.write_bytes(b"whole")
    assert not stale.exists() and live.exists() and (tmp_path / "tiles.h5").read_bytes() == b"whole"


def test_sheet_pixel_size_confirmed_by_the_spots_overrides_wrong_slide_metadata(tmp_path, visium_pair, caplog):
    """A TIFF that stores a wrong pixel size (72 dpi defaults) is overridden by the sheet when the
    spot geometry confirms the sheet: two independent sources against one."""
    from stpath.demo import write

    write.write_pyramid_tiff(tmp_path / "T1.tif", visium_pair["slides"]["T1"].image, 5.0)
    sample = Sample("T1", "P1", tmp_path / "T1.tif", visium_pair["root"] / "T1", "visium", um_per_px=0.5)
    with caplog.at_level(logging.WARNING):
        info = read_sample_info(ingest(sample, QC()))
    assert info.um_per_px == 0.5 and info.um_per_px_source == "sample sheet um_per_px"
    assert "the slide metadata says 5.0000 um/px; the sample sheet's 0.5000 um/px is used" in caplog.text


def test_counts_with_another_sections_spot_selection(tmp_path):
    c3 = her2st_rows()[1]
    sample = Sample("C2", "C", her2st_rows()[0]["slide"], her2st_rows()[0]["expression"], "legacy_st", c3["spots"])
    with pytest.raises(
        InputError,
        match=r"C2.tsv.gz: only 32 of the 187 counted spots have a position in .*C3_selection.tsv.*Fix: pair each counts file with the spot positions of the same section",
    ):
        ingest(sample, QC())


def test_spots_dropped_by_matching_are_a_warning_with_counts(caplog):
    root = shared("her2st")
    sample = Sample(
        "C3",
        "C",
        root / "images" / "C3.jpg",
        root / "counts" / "C3.tsv.gz",
        "legacy_st",
        root / "spots" / "C3_selection.tsv",
    )
    with caplog.at_level(logging.WARNING):
        ingest(sample, QC())
    assert (
        "C3.tsv.gz: 0 counted spots have no position and 2 listed spots have no counts; 180 spots kept" in caplog.text
    )


def test_visium_matrix_with_another_sections_spatial_folder(tmp_path):
    """Every Visium slide uses one barcode whitelist, so another section's positions match every
    barcode; its in_tissue flags do not. (The other section: the real folder's tissue, on the lower
    half of the capture area only.)"""
    folder = tmp_path / "vis"
    shutil.copytree(shared("visium_tiny"), folder)
    positions = folder / "spatial" / "tissue_positions_list.csv"
    table = pd.read_csv(positions, header=None, index_col=0)
    table[1] = ((table[1] == 1) & (table[2] >= 40)).astype(int)
    table.to_csv(positions, header=False)
    with pytest.raises(
        InputError,
        match=r"filtered_feature_bc_matrix.h5: \d+ of the 100 barcodes of the filtered matrix are not under tissue in .*tissue_positions_list.csv.*Fix: use the filtered_feature_bc_matrix.h5 and the spatial/ folder of the same Space Ranger run",
    ):
        ingest(Sample("V1", "P1", None, folder, "visium"), QC())
    ingest(Sample("V1", "P1", None, shared("visium_tiny"), "visium"), QC())  # its own folder passes (a subsample)


def test_visium_matrix_with_a_similar_sections_spatial_folder(tmp_path):
    """Another section of similar outline: its flags put 3 of the real matrix's 100 barcodes off
    tissue (within the old max(5, 1 %) tolerance; the demo's P1_S1 matrix with P2_S1's folder: 5 of
    153) and leave spots without counts under it. A matrix of one run, whole or subsampled as this
    one is, never has a barcode off tissue, so flags that differ both ways are refused."""
    folder = tmp_path / "vis"
    shutil.copytree(shared("visium_tiny"), folder)
    positions = folder / "spatial" / "tissue_positions_list.csv"
    table = pd.read_csv(positions, header=None, index_col=0)
    table.loc[read_visium_barcodes(folder)[:3], 1] = 0
    table.to_csv(positions, header=False)
    with pytest.raises(
        InputError,
        match=r"vis/filtered_feature_bc_matrix.h5: 3 of the 100 barcodes of the filtered matrix are not under tissue in .*tissue_positions_list.csv \(in_tissue = 0\) and 4135 of its 4232 barcodes under tissue have no counts: the matrix and the spatial folder come from different sections or runs",
    ):
        ingest(Sample("V1", "P1", None, folder, "visium"), QC())


def read_visium_barcodes(folder: Path) -> list[str]:
    import h5py

    with h5py.File(folder / "filtered_feature_bc_matrix.h5") as f:
        return [b.decode() for b in f["matrix/barcodes"][:]]


def test_visium_flags_against_the_detected_tissue(caplog):
    """Geometry: Space Ranger's in_tissue flags over the whole array against the tissue this
    pipeline detects, on the real Visium folder's own image (its low-resolution PNG, 16 um/px).
    They disagree at 0.4 % of the spots under tissue; the flags moved 3 spots along the array warn
    (> 2 %); moved 4 spots, cut to the tissue's lower half, or on the slide of a section cut otherwise
    (the image flipped) they are refused (> 5 %)."""
    import json

    from PIL import Image

    from stpath.ingest.ingested import read_array_flags
    from stpath.wsi.tissue import TissueSettings, array_mismatch, check_array_agreement, tissue_mask

    spatial = shared("visium_tiny", "spatial")
    factors = json.loads((spatial / "scalefactors_json.json").read_text())
    um_per_px = 65.0 / factors["spot_diameter_fullres"]  # full-resolution px
    down = 1 / factors["tissue_lowres_scalef"]
    image = np.asarray(Image.open(spatial / "tissue_lowres_image.png").convert("RGB"))
    mask = tissue_mask(image, um_per_px * down, TissueSettings())
    table = pd.read_csv(spatial / "tissue_positions_list.csv", header=None, index_col=0)
    xy = table[[5, 4]].to_numpy(float)
    flags = table[1].to_numpy() == 1
    carried = read_array_flags(ingest(Sample("V1", "P1", None, shared("visium_tiny"), "visium"), QC()))
    assert carried[1].sum() == 4235 and np.array_equal(carried[0], xy)  # ingest keeps the whole array for the patch job
    by_grid = dict(zip(zip(table[2], table[3]), flags))

    def moved(spots):  # neighbouring spots of a row are 2 array columns apart
        return np.array([by_grid.get((r, c + 2 * spots), False) for r, c in zip(table[2], table[3])])

    mismatch = {
        "own": array_mismatch(mask, down, um_per_px, xy, flags),
        "moved 3": array_mismatch(mask, down, um_per_px, xy, moved(3)),
        "moved 4": array_mismatch(mask, down, um_per_px, xy, moved(4)),
        "lower half": array_mismatch(mask, down, um_per_px, xy, flags & (table[2].to_numpy() >= 40)),
        "other slide": array_mismatch(
            tissue_mask(image[::-1].copy(), um_per_px * down, TissueSettings()), down, um_per_px, xy, flags
        ),
    }
    assert mismatch["own"] < 0.01, mismatch
    with caplog.at_level(logging.WARNING):
        check_array_agreement(mismatch["own"], TissueSettings(), "V1", "V1.h5ad")
        assert "in_tissue" not in caplog.text
        check_array_agreement(mismatch["moved 3"], TissueSettings(), "V1", "V1.h5ad")
    assert re.search(
        r"V1: the detected tissue contradicts Space Ranger's in_tissue flags at 3.\d% .*tissue.warn_array_mismatch: 2%",
        caplog.text,
    )
    for case in ("moved 4", "lower half", "other slide"):
        with pytest.raises(
            InputError,
            match=r"V1.h5ad: V1: the detected tissue contradicts Space Ranger's in_tissue flags at \d+.\d% of the spots under tissue .*tissue.max_array_mismatch: 5%.*Fix: pair the sample with the slide and the spatial/ folder of its own Space Ranger run",
        ):
            check_array_agreement(mismatch[case], TissueSettings(), "V1", "V1.h5ad")


def _scaled_positions(src: Path, dst: Path, factor: float) -> None:
    shutil.copytree(src, dst)
    positions = dst / "spatial" / "tissue_positions.csv"
    table = pd.read_csv(positions, index_col=0)
    table[["pxl_row_in_fullres", "pxl_col_in_fullres"]] = (
        (table[["pxl_row_in_fullres", "pxl_col_in_fullres"]] * factor).round().astype(int)
    )
    table.to_csv(positions)


def test_visium_coordinates_of_the_lowres_image(tmp_path, visium_pair):
    shutil.copy(visium_pair["root"] / "T1.tif", tmp_path / "T1.tif")
    shutil.copytree(visium_pair["root"] / "T2", tmp_path / "T2")
    shutil.copy(visium_pair["root"] / "T2.tif", tmp_path / "T2.tif")
    _scaled_positions(visium_pair["root"] / "T1", tmp_path / "T1", 0.195)
    message = refused(config_for(tmp_path, visium_rows()))
    assert "T1/spatial/tissue_positions.csv: sample T1: the pixel size sources disagree" in message, message
    assert re.search(r"Visium spot pitch \(100 um = 3\d.\d px\): 2.5", message), message
    assert re.search(
        r"Fix: the spot coordinates are not in full-resolution pixels of this slide \(they imply a pixel size 5.\d+x the slide metadata.s\)",
        message,
    ), message


def test_legacy_st_coordinates_scaled_against_the_sheet(tmp_path):
    sel = pd.read_csv(shared("her2st", "spots", "C2_selection.tsv"), sep="\t")
    sel[["pixel_x", "pixel_y"]] *= 0.195
    sel.to_csv(tmp_path / "C2_selection.tsv", sep="\t", index=False)
    rows = her2st_rows({"spots": tmp_path / "C2_selection.tsv", "um_per_px": 0.69})
    message = refused(config_for(tmp_path, rows, base="her2st.yaml", data_root=shared("her2st")))
    assert re.search(
        r"C2_selection.tsv: sample C2: the pixel size sources disagree by more than 20% \(sample sheet um_per_px: 0.69; legacy ST spot pitch \(200 um = 5\d.\d px\): 3.[45]",
        message,
    ), message


def test_spots_off_the_detected_tissue_are_refused_before_training(tmp_path, visium_pair, caplog):
    """Coordinates with no second pixel-size source to contradict them (a plain table) but that
    miss the tissue (x squeezed into the slide's empty margin, as coordinates of a low-resolution
    image would be): the slide's patch job refuses the sample before any model trains; a share
    between tissue.min_spots_on_tissue (0.5) and warn_spots_on_tissue (0.9) is a warning."""
    from stpath.wsi.cut import TilingSettings, tile_slide
    from stpath.wsi.tiles import read_thumbnail
    from stpath.wsi.tissue import TissueSettings, check_spots_on_tissue, share_on_tissue

    sample = counts_table_sample(tmp_path, visium_pair, um_per_px=0.5)
    a = ingest(sample, QC())
    tile_slide(sample.slide, 0.5, TissueSettings(thumbnail_px=512), TilingSettings(), tmp_path / "tiles.h5")
    thumb = read_thumbnail(tmp_path / "tiles.h5")
    xy = a.obsm["spatial"].copy()
    xy[:, 0] = xy[:, 0] * 0.1 + 20  # inside the slide, off the tissue
    share = share_on_tissue(thumb.tissue_mask, thumb.downsample, xy)
    with pytest.raises(
        InputError,
        match=r"T1.h5ad: T1: only \d+% of the spots lie on the detected tissue \(tissue.min_spots_on_tissue: 50%\).*Fix: give spot coordinates in full-resolution pixels",
    ):
        check_spots_on_tissue(share, TissueSettings(), "T1", tmp_path / "T1.h5ad")
    right = share_on_tissue(thumb.tissue_mask, thumb.downsample, a.obsm["spatial"])
    with caplog.at_level(logging.WARNING):
        check_spots_on_tissue(right, TissueSettings(), "T1", tmp_path / "T1.h5ad")
        assert right >= 0.95 and "detected tissue" not in caplog.text
        check_spots_on_tissue(0.7, TissueSettings(), "T1", tmp_path / "T1.h5ad")
    assert "T1: only 70% of the spots lie on the detected tissue (tissue.warn_spots_on_tissue: 90%)" in caplog.text


def test_job_warnings_of_this_run_reach_the_console_summary(tmp_path):
    """The Snakefile's onsuccess/onerror print every warning this project's code logged in a job
    log of the run (``stpath.logs.job_warnings``): older logs and third-party warnings stay out."""
    from stpath.logs import job_warnings

    old = tmp_path / "logs" / "demo" / "spot_patches" / "P0.log"
    old.parent.mkdir(parents=True)
    old.write_text(
        "2026-01-01 00:00:00,000 WARNING stpath.wsi.tissue: P0: only 70% of the spots lie on the detected tissue\n"
    )
    os.utime(old, (0, 0))
    start = time.time() - 1
    new = tmp_path / "logs" / "demo" / "spot_patches" / "P1.log"
    new.write_text(
        "2026-12-06 08:00:00,000 INFO stpath.wsi.cut: P1: 150 patches\n"
        "2026-12-06 08:00:01,000 WARNING stpath.wsi.tissue: P1: only 70% of the spots lie on the detected tissue\n"
        "2026-12-06 08:00:02,000 WARNING py.warnings: a library's deprecation\n"
    )
    assert job_warnings(tmp_path / "logs" / "demo", start) == [
        f"{new}: stpath.wsi.tissue: P1: only 70% of the spots lie on the detected tissue"
    ]
    snakefile = (REPO / "Snakefile").read_text()
    assert 'onsuccess:\n    print_job_warnings(f"logs/{DATASET}", RUN_START)' in snakefile


def test_missing_coordinate(tmp_path):
    root = shared("spacexr_hippocampus", "spatial")
    coords = pd.read_csv(root / "coords.csv", index_col=0)
    coords.iloc[4, 0] = np.nan
    coords.to_csv(tmp_path / "coords.csv")
    rows = [
        dict(
            sample="hippocampus",
            patient="mouse1",
            expression=root / "counts.csv",
            spots=tmp_path / "coords.csv",
            format="counts_table",
        )
    ]
    message = refused(
        config_for(tmp_path, rows, base="spacexr_hippocampus.yaml", data_root=shared("spacexr_hippocampus"))
    )
    assert (
        f"coords.csv: 1 of 313 spots have a missing or non-numeric coordinate, e.g. {coords.index[4]} at (nan, "
        in message
    )


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "C2.tsv.gz: the TSV file is empty (no header line). Fix: re-export or re-download"),
        (None, "C2.tsv.gz: the TSV table has a header but no data rows. Fix: give the whole table"),
    ],
    ids=["zero_bytes", "header_only"],
)
def test_counts_file_without_counts(tmp_path, content, message):
    import gzip

    if content is None:  # the header line of the real file, nothing after it
        with gzip.open(shared("her2st", "counts", "C2.tsv.gz"), "rt") as f:
            content = f.readline().encode()
    with gzip.open(tmp_path / "C2.tsv.gz", "wb") as f:
        f.write(content)
    if not content:
        (tmp_path / "C2.tsv.gz").write_bytes(b"")
    rows = her2st_rows({"expression": tmp_path / "C2.tsv.gz"})
    assert message in refused(config_for(tmp_path, rows, base="her2st.yaml", data_root=shared("her2st")))


def test_sheet_without_a_format_column(tmp_path):
    path = tmp_path / "samples.tsv"
    path.write_text("sample\tpatient\tslide\texpression\nC2\tC\timages/C2.jpg\tcounts/C2.tsv.gz\n")
    with pytest.raises(
        InputError,
        match=r"samples.tsv: missing column\(s\) \['format'\]; the header has .*Fix: add the column\(s\) \['format'\]",
    ):
        read_sheet(path)


def test_hash_in_a_file_name_is_part_of_the_path(tmp_path):
    path = tmp_path / "samples.tsv"
    path.write_text(
        "# a whole-line comment\nsample\tpatient\tslide\texpression\tformat\n"
        "P1_S1\tP1\tslides/P1_S1#2.tif\tspaceranger/P1_S1\tvisium\n# another\n"
    )
    sheet = read_sheet(path)
    assert list(sheet["sample"]) == ["P1_S1"] and sheet.loc["P1_S1", "slide"] == "slides/P1_S1#2.tif"


def test_unknown_config_key_is_named_first():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text()) | {"qcc": {}}
    with pytest.raises(InputError) as err:
        check_schema(config, SCHEMA, "config/config.yaml")
    message = str(err.value)
    assert message.startswith("config/config.yaml: unknown config key 'qcc'. Fix: remove it or correct its spelling")
    assert len(message.splitlines()) == 1 and len(message) < 600


def test_wrong_value_in_the_sheet_is_named_with_its_column(tmp_path):
    sheet = read_sheet(sheet_file(tmp_path, visium_rows(format="visum")))
    with pytest.raises(
        InputError,
        match=r"samples.tsv: sample 'T1': column 'format': 'visum' is not one of \['visium', 'legacy_st', 'hest', 'counts_table', 'image'\]",
    ):
        check_sheet_schema(sheet, SAMPLES_SCHEMA, tmp_path / "samples.tsv")


def test_one_sample_runs_without_the_image_models(tmp_path, visium_pair):
    rows = visium_rows()[:1]
    off = {"expression_models": {"models": []}, "cell_type_models": {"models": []}}
    check_config(config_for(tmp_path, rows, data_root=visium_pair["root"], **off))
    message = refused(config_for(tmp_path, rows, data_root=visium_pair["root"]))
    assert (
        "the image models need folds, and fold scheme 'patient' is impossible with 1 patient(s) and 1 sample(s) with a slide"
        in message
    )
    assert (
        "Fix: add a second sample with a slide, or turn the image models off (expression_models.models: []" in message
    )


def test_one_sample_dry_run_plans_tiling_without_folds(tmp_path, visium_pair):
    config = config_for(
        tmp_path,
        visium_rows()[:1],
        data_root=visium_pair["root"],
        expression_models={"models": []},
        cell_type_models={"models": []},
    )
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    r = run_snakemake(["-n", "--cores", "1", "--configfile", str(tmp_path / "config.yaml")], tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    assert re.search(r"tissue_tiles\s+1", r.stdout) and "folds" not in r.stdout.split("Job stats")[1]


def test_negative_predicted_abundances_are_saved_raw_with_what_clipping_changes(tmp_path):
    """Held-out predictions are saved raw (Pearson and Moran's R are computed on them, as released);
    ``uns`` records what clipping at 0 changes, and the maps, Spearman and JSD use the clipped view."""
    from stpath.celltypes.metrics import clipped
    from stpath.celltypes.models import below_zero
    from stpath.predictions import SpotPrediction, read_spot_prediction, write_spot_prediction

    raw = np.array([[2.0, -1.33], [0.5, 3.0], [-0.2, 1.0]], dtype=np.float32)
    frame = pd.DataFrame(raw, index=["a", "b", "c"], columns=["T", "B"])
    write_spot_prediction(
        SpotPrediction("cuca", 0, "S", frame, frame, "q05", np.zeros((3, 2)), below_zero(raw)), tmp_path / "p.h5ad"
    )
    back = read_spot_prediction(tmp_path / "p.h5ad")
    assert back.predicted.loc["a", "B"] == pytest.approx(-1.33) and (clipped(back.predicted).to_numpy() >= 0).all()
    assert back.details["clipped_below_zero"] == 2 and back.details["min_before_clipping"] == pytest.approx(-1.33)


# --- refused before as well; now in the pre-flight or pinned here ---------------------------------
def test_spots_outside_the_slide(tmp_path):
    sel = pd.read_csv(shared("her2st", "spots", "C2_selection.tsv"), sep="\t")
    sel[["pixel_x", "new_x"]] = sel[["pixel_x", "new_x"]] * 3  # the pitch moves with them: only the extent is wrong
    sel.to_csv(tmp_path / "C2_selection.tsv", sep="\t", index=False)
    message = refused(
        config_for(
            tmp_path,
            her2st_rows({"spots": tmp_path / "C2_selection.tsv"}),
            base="her2st.yaml",
            data_root=shared("her2st"),
        )
    )
    assert re.search(r"C2_selection.tsv: \d+ of 187 spot centres lie outside the slide .*C2.jpg", message)


def test_file_that_is_not_an_image(tmp_path):
    (tmp_path / "C2.jpg").write_text("sample\tpatient\n" * 50)
    message = refused(
        config_for(
            tmp_path, her2st_rows({"slide": tmp_path / "C2.jpg"}), base="her2st.yaml", data_root=shared("her2st")
        )
    )
    assert "C2.jpg: not a slide or image OpenSlide or Pillow can open" in message


@pytest.mark.parametrize(
    "change, message",
    [
        ({"um_per_px": "0,5"}, "sample C2: um_per_px '0,5' is not a positive number"),
        ({"spots": ""}, "sample C2: legacy_st needs a 'spots' file"),
    ],
    ids=["pixel_size_not_a_number", "legacy_st_without_spots"],
)
def test_sheet_values(tmp_path, change, message):
    with pytest.raises(InputError, match=re.escape(message)):
        read_sheet(sheet_file(tmp_path, her2st_rows(change)))


def test_empty_sheet(tmp_path):
    (tmp_path / "samples.tsv").write_text("")
    with pytest.raises(InputError, match="samples.tsv: the sample sheet is empty"):
        read_sheet(tmp_path / "samples.tsv")


def test_selection_file_without_pixel_columns(tmp_path):
    sel = pd.read_csv(shared("her2st", "spots", "C2_selection.tsv"), sep="\t").drop(columns=["pixel_x"])
    sel.to_csv(tmp_path / "C2_selection.tsv", sep="\t", index=False)
    message = refused(
        config_for(
            tmp_path,
            her2st_rows({"spots": tmp_path / "C2_selection.tsv"}),
            base="her2st.yaml",
            data_root=shared("her2st"),
        )
    )
    assert "C2_selection.tsv: missing column(s) ['pixel_x']" in message


def test_visium_folder_without_spot_positions(tmp_path, visium_pair):
    shutil.copytree(visium_pair["root"], tmp_path / "data")
    (tmp_path / "data" / "T1" / "spatial" / "tissue_positions.csv").unlink()
    message = refused(config_for(tmp_path, visium_rows(), data_root=tmp_path / "data"))
    assert "T1/spatial/tissue_positions.csv: input of sample T1 does not exist" in message


@pytest.mark.parametrize("value", [-3, np.nan], ids=["negative", "nan"])
def test_counts_that_are_not_counts(tmp_path, value):
    counts = pd.read_csv(shared("her2st", "counts", "C2.tsv.gz"), sep="\t", index_col=0)
    counts.iloc[3, 5] = value
    counts.to_csv(tmp_path / "C2.tsv.gz", sep="\t", compression=FAST_GZIP)
    sample = Sample(
        "C2", "C", her2st_rows()[0]["slide"], tmp_path / "C2.tsv.gz", "legacy_st", her2st_rows()[0]["spots"]
    )
    expected = (
        "counts contain NaN or infinite values"
        if np.isnan(value)
        else r"counts are not raw non-negative integers \(e.g. \[-3\]\)"
    )
    with pytest.raises(InputError, match=rf"C2.tsv.gz: {expected}"):
        ingest(sample, QC())


def test_qc_that_removes_every_spot(visium_pair):
    sample = Sample("T1", "P1", visium_pair["root"] / "T1.tif", visium_pair["root"] / "T1", "visium")
    with pytest.raises(InputError, match=r"T1: QC removed every one of the \d+ spots. Fix: lower qc.min_counts"):
        ingest(sample, QC(min_counts=10**9))


def test_blank_slide(tmp_path):
    from stpath.demo import write
    from stpath.wsi.cut import TilingSettings, tile_slide
    from stpath.wsi.tissue import TissueSettings

    write.write_pyramid_tiff(tmp_path / "blank.tif", np.full((1024, 1024, 3), 245, np.uint8), 0.5)
    with pytest.raises(InputError, match="blank.tif: no tissue detected on the slide thumbnail"):
        tile_slide(
            tmp_path / "blank.tif", 0.5, TissueSettings(thumbnail_px=512), TilingSettings(), tmp_path / "tiles.h5"
        )
    assert not (tmp_path / "tiles.h5").exists()


def test_pixel_size_disagreement_stops_the_dry_run(tmp_path, visium_pair):
    """The pre-flight runs in ``snakemake -n``: the refusal comes before any job."""
    config = config_for(tmp_path, visium_rows(um_per_px=5.0), data_root=visium_pair["root"])
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    r = run_snakemake(["-n", "--cores", "1", "--configfile", str(tmp_path / "config.yaml")], tmp_path)
    assert r.returncode != 0 and "sample T1: the pixel size sources disagree" in r.stdout, r.stdout[-3000:]
    assert not (tmp_path / "results").exists()


# --- slides without spatial data, and bundles (issue 15) ---------------------------------------------
def image_only_rows(visium_pair, **changes) -> list[dict]:
    """The demo pair, plus T2's slide once more as a slide alone (format image)."""
    row = dict(sample="T3", patient="P3", slide="T2.tif", expression="", format="image") | changes
    return visium_rows() + [row]


def test_image_only_row_is_ingested_tiled_and_in_no_fold(tmp_path, visium_pair):
    from stpath.config import Stages
    from stpath.ingest.sheet import input_files, to_sample

    config = config_for(tmp_path, image_only_rows(visium_pair), data_root=visium_pair["root"])
    check_config(config)
    sheet = read_sheet(config["samples"])
    stages = Stages.of(config, sheet)
    assert (
        stages.labelled_slides == ["T1", "T2"]
        and stages.image_only == ["T3"]
        and stages.samples_with_slide == ["T1", "T2", "T3"]
    )
    assert stages.samples_with_expression == ["T1", "T2"] and stages.final_models
    sample = to_sample(sheet.loc["T3"], visium_pair["root"])
    assert sample.expression is None and input_files(sample) == [visium_pair["root"] / "T2.tif"]
    adata = ingest(sample, QC())
    info = read_sample_info(adata)
    assert adata.n_obs == 0 and (info.format, info.um_per_px, info.um_per_px_source) == ("image", 0.5, "slide metadata")
    assert (info.slide_width, info.slide_height) == (1536, 1536)


def test_image_only_slide_without_a_pixel_size(tmp_path, visium_pair):
    Image.fromarray(visium_pair["slides"]["T1"].image).save(tmp_path / "plain.png")  # a PNG stores no um/px
    shutil.copytree(visium_pair["root"], tmp_path / "data")
    (tmp_path / "data" / "plain.png").write_bytes((tmp_path / "plain.png").read_bytes())
    rows = image_only_rows(visium_pair, slide="plain.png")
    message = refused(config_for(tmp_path, rows, data_root=tmp_path / "data"))
    assert (
        "plain.png: sample T3: the pixel size (um/px) is unknown: the slide stores none and an image-only sample has no spots"
        in message
    )
    assert "Fix: add the pixel size in um/px to the 'um_per_px' column of the sample sheet" in message
    check_config(
        config_for(
            tmp_path, image_only_rows(visium_pair, slide="plain.png", um_per_px=0.5), data_root=tmp_path / "data"
        )
    )


@pytest.mark.parametrize(
    "row, message",
    [
        (dict(expression="T2"), "sample T3: format 'image' has no spatial data, but its 'expression' column is filled"),
        (dict(slide=""), "sample T3: format 'image' needs a 'slide'"),
        (dict(format="visium"), "sample T3: format visium needs its 'expression' file or folder"),
    ],
)
def test_image_only_rows_that_contradict_themselves(tmp_path, visium_pair, row, message):
    with pytest.raises(InputError, match=re.escape(message)) as err:
        read_sheet(sheet_file(tmp_path, image_only_rows(visium_pair, **row)))
    assert "samples.tsv" in str(err.value) and "Fix:" in str(err.value)


def test_image_only_slides_without_final_models(tmp_path, visium_pair):
    config = config_for(
        tmp_path, image_only_rows(visium_pair), data_root=visium_pair["root"], training={"final_models": False}
    )
    message = refused(config)
    assert (
        "the image-only samples ['T3'] are predicted by the final models, but training.final_models is false" in message
    )


def test_image_only_slides_that_no_whole_slide_model_predicts(tmp_path, visium_pair):
    """models: [direct] with whole_slide left at [cmrcnet] (and no cell-type model): the image-only
    slide would be ingested and tiled, and never predicted, without a word. Refused before any job."""
    config = config_for(
        tmp_path,
        image_only_rows(visium_pair),
        data_root=visium_pair["root"],
        expression_models={"models": ["direct"], "whole_slide": ["cmrcnet"]},
        cell_type_models={"models": []},
    )
    message = refused(config)
    assert (
        "the image-only samples ['T3'] would be tiled and never predicted: no model of this run is in a whole_slide list (models ['direct']"
        in message
    )
    assert (
        "Fix: add the models that should predict them to expression_models.whole_slide or cell_type_models.whole_slide (e.g. whole_slide: [direct])"
        in message
    )
    check_config(
        config_for(
            tmp_path,
            image_only_rows(visium_pair),
            data_root=visium_pair["root"],
            expression_models={"models": ["direct"], "whole_slide": ["direct"]},
            cell_type_models={"models": []},
        )
    )


def test_apply_a_folder_that_is_not_a_bundle(tmp_path, visium_pair):
    config = config_for(tmp_path, visium_rows(), data_root=visium_pair["root"], apply={"bundles": [str(tmp_path)]})
    assert f"{tmp_path}: not a model bundle (no bundle.json)" in refused(config)


# --- a killed run --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, said",
    [
        ("swap", "the pixel coordinates are transposed: pixel_x follows y (r "),
        ("mirror", "the pixel coordinates are mirrored: pixel_x falls as x rises (r -"),
        ("scramble", "the pixel coordinates are scrambled against the array: no pixel column follows x (best |r| 0."),
    ],
)
def test_transposed_or_mirrored_legacy_st_pixels_are_refused(tmp_path, change, said):
    """Real HER2ST C2 spots with pixel_x and pixel_y swapped, or x mirrored: 82 % / 56 % of them still
    land on tissue, so nothing else would notice. The pre-flight refuses both, naming the columns;
    pixel rows shuffled against the array (r ~ 0) are called scrambled, not mirrored (flipping
    the image would not help)."""
    from stpath.ingest.preflight import check_sample
    from stpath.ingest.sheet import Sample

    spots = pd.read_csv(shared("her2st", "spots", "C2_selection.tsv"), sep="\t")
    if change == "swap":
        spots[["pixel_x", "pixel_y"]] = spots[["pixel_y", "pixel_x"]].to_numpy()
    elif change == "scramble":
        order = np.random.default_rng(0).permutation(len(spots))
        spots[["pixel_x", "pixel_y"]] = spots[["pixel_x", "pixel_y"]].to_numpy()[order]
    else:
        spots["pixel_x"] = spots["pixel_x"].max() + spots["pixel_x"].min() - spots["pixel_x"]
    spots.to_csv(tmp_path / "C2_selection.tsv", sep="\t", index=False)
    sample = Sample(
        "C2",
        "C",
        shared("her2st", "images", "C2.jpg"),
        shared("her2st", "counts", "C2.tsv.gz"),
        "legacy_st",
        tmp_path / "C2_selection.tsv",
    )
    with pytest.raises(InputError, match=re.escape(f"C2_selection.tsv: {said}")) as err:
        check_sample(sample)
    assert "Fix: " in str(err.value)


def test_a_jpeg_stored_turned_with_an_exif_orientation_is_refused(tmp_path):
    """A real HER2ST crop stored rotated with EXIF Orientation 6 (upright in every viewer, the frame
    spots are drawn in): its patches would come from the wrong tissue. Refused at the pre-flight."""
    from stpath.ingest.preflight import check_sample
    from stpath.ingest.sheet import Sample

    with Image.open(shared("her2st", "images", "C2.jpg")) as image:
        crop = image.crop((2000, 2000, 4000, 3500))
    exif = Image.Exif()
    exif[0x0112] = 6
    crop.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "C2_turned.jpg", exif=exif)
    crop.save(tmp_path / "C2_upright.jpg")
    with pytest.raises(
        InputError,
        match=r"C2_turned.jpg: the image is stored rotated 90 degrees with an EXIF Orientation tag \(6\).*Fix: save the image upright",
    ):
        check_sample(Sample("C2", "C", tmp_path / "C2_turned.jpg", None, "image", None, 0.69))
    check_sample(Sample("C2", "C", tmp_path / "C2_upright.jpg", None, "image", None, 0.69))


def test_transposed_visium_pixels_are_refused(tmp_path):
    """A real Visium positions file with pxl_row and pxl_col swapped (patches 31/255 off, 73 % on tissue)."""
    from stpath.ingest.preflight import check_sample
    from stpath.ingest.sheet import Sample

    folder = tmp_path / "vis"
    shutil.copytree(shared("visium_tiny"), folder)
    pos = folder / "spatial" / "tissue_positions_list.csv"
    table = pd.read_csv(pos, header=None)
    table[[4, 5]] = table[[5, 4]].to_numpy()
    table.to_csv(pos, header=False, index=False)
    with pytest.raises(
        InputError,
        match=r"tissue_positions_list.csv: the pixel coordinates are transposed: pxl_col_in_fullres follows array_row",
    ):
        check_sample(Sample("V1", "P1", None, folder, "visium"))
    check_sample(Sample("V1", "P1", None, shared("visium_tiny"), "visium"))


def test_ensembl_ids_in_one_sample_and_symbols_in_another_are_refused_at_dry_run(tmp_path):
    """Real HER2ST C2 (gene symbols) beside C3 exported with Ensembl ids: found only in the gene-set
    job before; the pre-flight reads both headers and says it."""
    counts = pd.read_csv(shared("her2st", "counts", "C3.tsv.gz"), sep="\t", index_col=0)
    counts.columns = [f"ENSG{i:011d}" for i in range(counts.shape[1])]
    counts.to_csv(tmp_path / "C3.tsv.gz", sep="\t", compression=FAST_GZIP)
    rows = her2st_rows()
    rows[1]["expression"] = tmp_path / "C3.tsv.gz"
    message = refused(config_for(tmp_path, rows, base="her2st.yaml", data_root=shared("her2st")))
    assert "the samples name their genes differently (gene symbols: ['C2']; Ensembl ids: ['C3'])" in message
    assert "Fix: give every sample's counts with the same identifiers" in message


def test_a_gzip_file_named_csv_is_said_to_be_gzip(tmp_path):
    """Real HER2ST counts, gzip-compressed under a plain .tsv name: not "utf-8 can't decode byte 0x8b"."""
    from stpath.ingest.tables import read_table

    shutil.copy(shared("her2st", "counts", "C2.tsv.gz"), tmp_path / "C2.tsv")
    with pytest.raises(
        InputError, match=r"C2.tsv: the file is gzip-compressed, but its name does not say so. Fix: name it C2.tsv.gz"
    ):
        read_table(tmp_path / "C2.tsv")


def test_a_duplicated_gene_column_is_refused_naming_the_gene(tmp_path):
    """pandas renames the second KRT8 column KRT8.1, which no gene set then finds: refused instead."""
    from stpath.ingest.tables import read_table

    counts = pd.read_csv(shared("her2st", "counts", "C2.tsv.gz"), sep="\t", index_col=0)
    counts.columns = [*counts.columns[:-1], "KRT8"]  # the last gene renamed to one the table has
    counts.to_csv(tmp_path / "C2.tsv", sep="\t")
    with pytest.raises(
        InputError,
        match=r"C2.tsv: 1 column name\(s\) appear more than once in the header, e.g. \['KRT8'\]. Fix: make every column name unique",
    ):
        read_table(tmp_path / "C2.tsv")


def test_spaces_around_sheet_cells_are_not_part_of_the_paths(tmp_path):
    """A spreadsheet leaves a space after a path: the sheet's cells are stripped."""
    from stpath.ingest.sheet import read_sheet

    root = shared("her2st")
    (tmp_path / "samples.tsv").write_text(
        "sample\tpatient\tslide\texpression\tspots\tformat\n"
        f"C2 \tC\t{root / 'images' / 'C2.jpg'} \t{root / 'counts' / 'C2.tsv.gz'}\t {root / 'spots' / 'C2_selection.tsv'}\tlegacy_st \n"
    )
    sheet = read_sheet(tmp_path / "samples.tsv")
    assert (
        list(sheet.index) == ["C2"]
        and Path(sheet.loc["C2", "slide"]).is_file()
        and Path(sheet.loc["C2", "spots"]).is_file()
    )
    assert sheet.loc["C2", "format"] == "legacy_st"


def test_sheets_saved_by_spreadsheets_are_read_or_refused_with_the_line(tmp_path):
    """Excel's "Unicode Text" (UTF-16 with its mark) and a UTF-8 sheet with a mark are read, an
    accented patient id intact; a Windows-1252 sheet is refused naming the line, not guessed."""
    from stpath.ingest.sheet import read_sheet

    root = shared("her2st")
    text = (
        "sample\tpatient\tslide\texpression\tspots\tformat\n"
        f"C2\tPatiënt_C\t{root / 'images' / 'C2.jpg'}\t{root / 'counts' / 'C2.tsv.gz'}\t{root / 'spots' / 'C2_selection.tsv'}\tlegacy_st\n"
    )
    for encoding in ("utf-16", "utf-8-sig"):
        (tmp_path / "samples.tsv").write_bytes(text.replace("\n", "\r\n").encode(encoding))
        sheet = read_sheet(tmp_path / "samples.tsv")
        assert sheet.loc["C2", "patient"] == "Patiënt_C" and Path(sheet.loc["C2", "slide"]).is_file(), encoding
    (tmp_path / "samples.tsv").write_bytes(text.encode("cp1252"))
    with pytest.raises(InputError) as err:
        read_sheet(tmp_path / "samples.tsv")
    assert str(err.value).startswith(f"{tmp_path / 'samples.tsv'}: line 2 is not UTF-8 text (byte 0xeb in 'C2\\tPati")
    assert "Fix: save it as UTF-8" in str(err.value)


def test_unlock_counts_only_snakemake_working_in_this_directory(tmp_path):
    """A Snakemake run elsewhere that names this folder on its command line (its Snakefile here,
    ``--directory`` there) does not block ``make unlock`` here; one working here does."""
    from tools.unlock import live_runs

    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir(), there.mkdir()
    sleep = [sys.executable, "-c", "import time; time.sleep(60)", "snakemake"]
    elsewhere = subprocess.Popen([*sleep, "--snakefile", str(here / "Snakefile"), "--directory", str(there)], cwd=here)
    relative = subprocess.Popen([*sleep, "-d", "../there"], cwd=here)
    local = subprocess.Popen([*sleep, "--cores", "1"], cwd=here)
    try:
        time.sleep(0.5)
        assert [p.pid for p in live_runs(here)] == [local.pid]
        assert sorted(p.pid for p in live_runs(there)) == sorted([elsewhere.pid, relative.pid])
    finally:
        for proc in (elsewhere, relative, local):
            proc.kill()
            proc.wait()


@pytest.mark.workflow
def test_killed_run_is_unlocked_safely_and_resumes(tmp_path):
    """kill -9 of a running workflow leaves Snakemake's lock: the README's command then stops
    with a LockException; `python -m tools.unlock` refuses while a run is alive, removes a
    stale lock, and the same command resumes (the default profile reruns incomplete jobs)."""
    from tools.unlock import live_runs

    sheet = sheet_file(tmp_path, her2st_rows())
    # the paper's CUCA needs Virchow2's local weight file: off here
    args = [
        "--cores",
        "1",
        "--until",
        "ingest",
        *config_args("her2st.yaml", samples=sheet, cell_type_models="{'models': []}"),
    ]
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), *args]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    run = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    locks = tmp_path / ".snakemake" / "locks"
    deadline = time.time() + 120
    while not (tmp_path / "logs" / "her2st" / "ingest").exists() and time.time() < deadline:
        time.sleep(0.2)
    assert any(locks.glob("*")), "the run never took its lock"
    assert run.pid in [p.pid for p in live_runs(tmp_path)]
    unlock = [sys.executable, "-m", "tools.unlock", *args]
    r = subprocess.run(unlock, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 1 and "a Snakemake run is still working here; the lock is not stale" in r.stderr

    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert any(locks.glob("*")) and not live_runs(tmp_path)
    again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode != 0 and "LockException" in again.stdout + again.stderr
    r = subprocess.run(unlock, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    resumed = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    assert len(list((tmp_path / "results" / "her2st" / "ingest").glob("*.h5ad"))) == 2


def test_a_visium_sections_published_table_covers_only_its_spots_under_tissue(tmp_path, visium_pair, caplog):
    """Space Ranger lists the whole array; a published table covers the spots under tissue (here
    29 of 60 positions): it passes the pre-flight. A table whose barcodes lack Space Ranger's ``-1``
    suffix is matched on the bare barcode and labels the sample's spots."""
    from stpath.deconvolution.published import PublishedTier, check_published

    root = tmp_path / "data"
    shutil.copytree(visium_pair["root"], root)
    positions = root / "T1" / "spatial" / "tissue_positions.csv"
    table = pd.read_csv(positions, index_col=0)
    off = table.copy()  # as many positions again, off the tissue
    off.index = pd.Index([f"OFF{i:05d}-1" for i in range(len(off))], name=table.index.name)
    off["in_tissue"], off["array_row"] = 0, off["array_row"] + table["array_row"].max() + 2
    slope, intercept = np.polyfit(table["array_row"], table["pxl_row_in_fullres"], 1)  # the array's frame
    off["pxl_row_in_fullres"] = (slope * off["array_row"] + intercept).round().astype(int)
    pd.concat([table, off]).to_csv(positions)
    rng = np.random.default_rng(0)
    under = {s: visium_pair["slides"][s].spots.query("in_tissue == 1").index for s in ("T1", "T2")}
    (root / "published").mkdir()
    for s, ids in under.items():
        names = ids if s == "T1" else ids.str.removesuffix("-1")
        write_tsv = pd.DataFrame(rng.dirichlet([1, 1, 1], len(ids)), index=names, columns=["A", "B", "C"])
        write_tsv.to_csv(root / "published" / f"{s}.tsv", sep="\t")
    assert len(pd.read_csv(positions, index_col=0)) == 60 and len(under["T1"]) == 29
    rows = [{**r, "slide": f"{r['sample']}.tif"} for r in visium_rows()]
    tiers = {"major": {"table": "published/{sample}.tsv"}}
    check_config(config_for(tmp_path, rows, data_root=root, published_deconvolution={"tiers": tiers}))
    tier = PublishedTier("major", "published/{sample}.tsv")
    with caplog.at_level(logging.WARNING):
        table = check_published(tier, {"T2": root / "published" / "T2.tsv"}, {"T2": under["T2"]}, 0.8)["T2"]
    assert list(table.index) == list(under["T2"]) and "Space Ranger's -N suffix" in caplog.text


def test_a_section_of_one_spot_is_refused_before_any_job_naming_the_spot_count(tmp_path, visium_pair):
    """One spot (a subset exported by mistake): refused at the pre-flight with the count, not by
    gene QC's "every gene removed" nor by a training with no validation spot."""
    from stpath.ingest.preflight import MIN_SECTION_SPOTS, check_sample
    from stpath.training.data import split_validation

    sample = counts_table_sample(tmp_path, visium_pair, um_per_px=0.5)
    check_sample(sample)  # the whole section (29 spots) passes
    for name in ("counts.csv", "coords.csv"):
        pd.read_csv(tmp_path / name, index_col=0).iloc[:1].to_csv(tmp_path / name)
    with pytest.raises(InputError) as err:
        check_sample(sample)
    assert str(err.value).startswith(
        f"{tmp_path / 'coords.csv'}: sample T1 has only 1 spot(s); a section with spatial data needs at least {MIN_SECTION_SPOTS}"
    )
    assert "(format image)" in str(err.value)  # the sheet's own name for an image-only row
    # and where a training still meets so few spots, it says so instead of failing on no weights
    with pytest.raises(ValueError, match="leaves no validation spot: sections this small cannot train a model"):
        split_validation(np.array(["A", "B"], dtype=object), 0.2, 0)


@pytest.mark.parametrize(
    "um_per_px, message",
    [
        (
            0.05,
            r"sample T1: cell_type_models.patches.um_per_px cuts at 0.05 um/px, 10x finer .*Fix: check cell_type_models.patches.um_per_px",
        ),
        (
            20,
            r"cell_type_models.patches: a 4480 um field of view .* is wider than slide T1 \(1536 x 1536 px at 0.5 um/px = 768 x 768 um\)\. Fix: correct cell_type_models.patches.um_per_px",
        ),
    ],
)
def test_a_branch_patch_scale_typo_is_refused_at_dry_run_naming_its_key(tmp_path, visium_pair, um_per_px, message):
    """A branch's own patch scale 10x too fine, or so coarse that its window is wider than the
    slide (before: refused without naming the key, or at job time after ingest and tiling, with a
    fix pointing at the sample sheet)."""
    rows = [{**r, "slide": f"{r['sample']}.tif"} for r in visium_rows()]
    config = config_for(tmp_path, rows, data_root=visium_pair["root"])
    config["cell_type_models"]["patches"] = {"um_per_px": um_per_px, "px": 224}
    assert re.search(message, refused(config)), refused(config)


# --- the catalogue (docs/bad_inputs.md) ------------------------------------------------------------
def readme_catalogue() -> list[tuple[str, str, str]]:
    """(case, where, test) rows of the bad-input catalogue, docs/bad_inputs.md."""
    text = (REPO / "docs" / "bad_inputs.md").read_text()
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].isdigit():
            rows.append((cells[1], cells[2], cells[4].strip("`")))
    return rows


def test_readme_lists_every_case_with_a_test_that_exists():
    import ast

    rows = readme_catalogue()
    numbers = [
        int(line.split("|")[1])
        for line in (REPO / "docs" / "bad_inputs.md").read_text().splitlines()
        if line.startswith("| ") and line.split("|")[1].strip().isdigit()
    ]
    assert numbers == list(range(1, len(numbers) + 1)) and len(rows) == len(numbers) >= 100
    for case, where, test in rows:
        assert re.fullmatch(r"dry-run|accepted|run start|job \((warning|\w+)\)", where), (case, where)
        file, _, name = test.partition("::")
        tree = ast.parse((REPO / file).read_text())
        names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert name.split("[")[0] in names, f"catalogue case {case!r} names {test}, which does not exist"
