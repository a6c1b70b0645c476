import numpy as np
import pytest

from stpath.errors import InputError
from stpath.wsi.cut import TilingParams, tile_slide
from stpath.wsi.slide import open_slide, thumbnail
from stpath.wsi.tiles import iter_tile_images, read_thumbnail, read_tile_grid
from stpath.wsi.tissue import TissueParams, tile_grid, tissue_mask

from conftest import shared


def test_real_svs_tissue_and_tiles(tmp_path):
    path = shared("slides", "CMU-1-Small-Region.svs")
    n = tile_slide(path, 0.499, TissueParams(), TilingParams(0.5, 224, 0.5), tmp_path / "tiles.h5")
    grid, thumb = read_tile_grid(tmp_path / "tiles.h5"), read_thumbnail(tmp_path / "tiles.h5")
    chunks = list(iter_tile_images(tmp_path / "tiles.h5", 16))
    assert sum(len(images) for _, images in chunks) == n == len(grid) and chunks[0][1].shape[1:] == (224, 224, 3)
    mask, coords = thumb.tissue_mask, grid.coords
    assert grid.side_level0 == 224 and np.array_equal(grid.centres, coords + 112)
    assert 0.2 < mask.mean() < 0.9  # the skin section covers part of the region
    assert n > 20
    # tile grid is on a 224 px pitch at level 0 (0.499 ~ 0.5 um/px) and inside the slide
    assert (coords % 224 == 0).all() and (coords.max(0) + 224 <= [2220, 2967]).all()


def test_blank_slide_has_no_tissue(tmp_path):
    from stpath.demo.write import write_pyramid_tiff

    blank = np.full((1024, 1024, 3), 242, dtype=np.uint8)
    blank += np.random.default_rng(0).integers(0, 3, size=blank.shape, dtype=np.uint8)
    write_pyramid_tiff(tmp_path / "blank.tif", blank, 0.5)
    with pytest.raises(InputError, match="blank.tif: no tissue"):
        tile_slide(tmp_path / "blank.tif", 0.5, TissueParams(), TilingParams(), tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()


def test_demo_mask_covers_spots_in_tissue(demo_slide):
    slide = open_slide(demo_slide["slide"])
    thumb, down = thumbnail(slide, 1024)
    mask = tissue_mask(thumb, 0.5 * down, TissueParams())
    spots = demo_slide["data"].spots
    inside = spots[spots.in_tissue == 1][["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy() / down
    hits = mask[inside[:, 1].astype(int), inside[:, 0].astype(int)]
    assert hits.mean() > 0.8  # adipose (pale, low saturation) is the expected miss
    windows, frac = tile_grid(slide, mask, 0.5, 0.5, 224, 0.5)
    assert len(windows.xy) > 5 and (frac >= 0.5).all()
