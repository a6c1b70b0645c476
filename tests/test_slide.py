import numpy as np
import pytest
from PIL import Image

from stpath.errors import InputError
from stpath.wsi.slide import open_slide, slide_um_per_px

from conftest import shared


def test_real_svs_opens_with_pixel_size():
    slide = open_slide(shared("slides", "CMU-1-Small-Region.svs"))
    assert slide.dimensions == (2220, 2967)
    assert slide_um_per_px(slide) == pytest.approx(0.499, abs=1e-3)


def test_plain_jpeg_opens_through_same_interface():
    slide = open_slide(shared("her2st", "images", "C2.jpg"))
    assert slide.level_count == 1
    assert slide_um_per_px(slide) is None
    region = slide.read_region((100, 200), 0, (8, 8))
    direct = np.asarray(Image.open(shared("her2st", "images", "C2.jpg")).convert("RGB"))[200:208, 100:108]
    assert np.array_equal(np.asarray(region.convert("RGB")), direct)


def test_demo_pyramid_has_levels_and_mpp(demo_slide):
    slide = open_slide(demo_slide["slide"])
    assert slide.level_count >= 2
    assert slide.level_downsamples[1] == pytest.approx(2.0)
    assert slide_um_per_px(slide) == pytest.approx(0.5)


def test_missing_slide_names_file(tmp_path):
    with pytest.raises(InputError, match="nope.svs: slide file not found"):
        open_slide(tmp_path / "nope.svs")


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_tiff_is_refused(demo_slide, tmp_path, keep):
    data = demo_slide["slide"].read_bytes()
    bad = tmp_path / "truncated.tif"
    bad.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(InputError, match="truncated.tif: slide cannot be decoded.*Fix: re-download"):
        open_slide(bad)


def test_truncated_jpeg_is_refused(tmp_path):
    data = shared("her2st", "images", "C3.jpg").read_bytes()
    bad = tmp_path / "C3.jpg"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cannot be decoded"):
        open_slide(bad)


def test_garbage_file_is_refused(tmp_path):
    bad = tmp_path / "slide.svs"
    bad.write_bytes(b"not a slide at all" * 100)
    with pytest.raises(InputError, match="slide.svs"):
        open_slide(bad)
