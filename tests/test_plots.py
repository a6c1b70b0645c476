"""Spot maps as a pathologist reads them: the view cropped to the tissue the spots cover, spots at
their physical diameter (legacy ST 100 um, Visium 55 um), on the real HER2ST section C3."""

from __future__ import annotations

import numpy as np
import pytest

from stpath.ingest.ingested import SampleInfo
from stpath.plots import SpotView

from conftest import shared


def info(fmt, um_per_px, stored=None):
    return SampleInfo("S", "P", fmt, "s.tif", 1000, 1000, um_per_px, "sheet", stored, 10, 0, 10)


def test_physical_spot_diameter_per_technology():
    assert info("legacy_st", 0.69).physical_spot_px == pytest.approx(100 / 0.69)
    assert info("visium", 0.5, stored=130.0).physical_spot_px == pytest.approx(110.0)  # 55 um, not the stored 65 um
    assert (
        info("hest", 0.5, stored=120.0).physical_spot_px == 120.0 and info("counts_table", 0.5).physical_spot_px is None
    )


def test_view_crops_the_thumbnail_to_the_spots_and_keeps_their_size():
    thumbnail = np.zeros((1000, 800, 3), np.uint8)
    xy = np.array([[4000.0, 2000.0], [6000.0, 5000.0]])  # level-0 pixels, downsample 8
    view = SpotView.of(xy, 400.0, thumbnail, 8.0, panel_px=1000)
    # crop: (4000-400)/8 = 450 .. (6000+400)/8 = 800 wide, (2000-400)/8 = 200 .. (5000+400)/8 = 675 high
    assert view.image.shape[:2] == (475, 350)
    assert np.allclose(view.xy, [[50, 50], [300, 425]]) and view.radius == pytest.approx(25.0)
    assert view.aspect == pytest.approx(475 / 350)
    plain = SpotView.of(xy, None, None)  # no slide, no diameter: half the spacing
    assert plain.image is None and plain.radius == pytest.approx(np.hypot(2000, 3000) / 4)


def test_her2st_section_map_shows_the_tissue_not_the_glass():
    """On C3 the tissue fills about a fifth of the thumbnail; the view keeps the spots' extent."""
    import anndata as ad

    from stpath.ingest.ingest import QC, ingest
    from stpath.ingest.sheet import Sample
    from stpath.wsi.slide import open_slide

    root = shared("her2st")
    sample = Sample(
        "C3",
        "C",
        root / "images" / "C3.jpg",
        root / "counts" / "C3.tsv.gz",
        "legacy_st",
        root / "spots" / "C3_selection.tsv",
        None,
    )
    adata = ingest(sample, QC())
    assert isinstance(adata, ad.AnnData)
    slide = open_slide(sample.slide)
    width, height = slide.dimensions
    thumbnail = np.asarray(slide.get_thumbnail((width // 8, height // 8)))[:, :, :3]
    from stpath.ingest.ingested import read_sample_info

    view = SpotView.of(
        adata.obsm["spatial"],
        read_sample_info(adata).physical_spot_px,
        thumbnail,
        width / thumbnail.shape[1],
        panel_px=2000,
    )
    shown = view.image.shape[0] * view.image.shape[1] / (thumbnail.shape[0] * thumbnail.shape[1])
    assert 0.15 < shown < 0.45
    assert view.radius * 2 == pytest.approx(100 / 0.687 / (width / thumbnail.shape[1]), rel=0.02)
