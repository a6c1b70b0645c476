import numpy as np
import pytest

from stpath.wsi.patches import read_patches_h5, write_patches_h5
from stpath.wsi.scale import ImageScale
from stpath.wsi.slide import open_slide
from stpath.wsi.windows import centred_windows, extract, inside, read_window

from conftest import shared


@pytest.mark.parametrize("target", [0.5, 1.0, 1.7])  # level 0 as is; level 1 exactly; level 1 + resize
def test_band_extraction_equals_direct_reads(demo_slide, target):
    slide = open_slide(demo_slide["slide"])
    rng = np.random.default_rng(0)
    centres = rng.uniform(0, 1536, size=(60, 2))
    w = centred_windows(slide, centres, 0.5, ImageScale(target, 64))
    ok = inside(slide, w)
    w = w.subset(ok)
    got = extract(slide, w, 64, band_bytes=1 << 16, progress=False)
    expected_level = {0.5: 0, 1.0: 1, 1.7: 1}[target]
    assert w.level == expected_level
    for i in range(len(w.xy)):
        assert np.array_equal(got[i], read_window(slide, w, i, 64)), i


def test_windows_are_centred_on_spots(demo_slide):
    slide = open_slide(demo_slide["slide"])
    centres = np.array([[700.0, 800.0], [701.4, 799.6]])
    w = centred_windows(slide, centres, 0.5, ImageScale(1.0, 100))  # 200 level-0 px -> level 1, 100 px
    centre_back = w.coords_level0 + w.size * w.downsample / 2
    assert np.abs(centre_back - centres).max() <= w.downsample


def test_windows_leaving_slide_are_flagged(demo_slide):
    slide = open_slide(demo_slide["slide"])
    centres = np.array([[10.0, 10.0], [768.0, 768.0], [1530.0, 700.0]])
    w = centred_windows(slide, centres, 0.5, ImageScale(0.5, 224))
    assert inside(slide, w).tolist() == [False, True, False]


def test_hest_h5_roundtrip(tmp_path):
    imgs = np.random.default_rng(1).integers(0, 255, size=(3, 8, 8, 3), dtype=np.uint8)
    write_patches_h5(tmp_path / "p.h5", imgs, np.array([[1, 2], [3, 4], [5, 6]]), ["a", "b", "c"], {"patch_size": 8})
    img, coords, barcodes, attrs = read_patches_h5(tmp_path / "p.h5")
    assert np.array_equal(img, imgs) and coords.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert barcodes.tolist() == ["a", "b", "c"] and attrs["patch_size"] == 8


def test_real_jpeg_upsampled_patches_match(tmp_path):
    """HER2ST is 0.69 um/px: a 224 px patch at 0.5 um/px is a 163 px window resized up."""
    slide = open_slide(shared("her2st", "images", "C2.jpg"))
    centres = np.array([[6930.58, 3510.24], [6674.96, 3517.82]])
    w = centred_windows(slide, centres, 0.688, ImageScale(0.5, 224))
    assert w.size == 163
    got = extract(slide, w, 224, progress=False)
    for i in range(2):
        assert np.array_equal(got[i], read_window(slide, w, i, 224))


def test_extract_bounds_memory_by_the_band_not_the_grid(demo_slide):
    """A slide upsampled 112x (windows of 2 level px cut to 224 px, as a pixel-size typo would make
    them): every band handed to the sink holds at most ``band_bytes`` of cut windows (before, one
    band held every window of its rows: here all 14,000, 2.1 GB)."""
    from stpath.wsi.windows import Windows

    slide = open_slide(demo_slide["slide"])
    gx, gy = np.meshgrid(np.arange(0, 1400, 2), np.arange(0, 40, 2))
    windows = Windows(0, 1.0, 2, np.stack([gx.ravel(), gy.ravel()], axis=1))
    band_bytes = 1 << 22
    sizes = []
    extract(
        slide,
        windows,
        224,
        band_bytes=band_bytes,
        progress=False,
        sink=lambda idx, images: sizes.append((len(idx), images.nbytes)),
        workers=2,
    )
    assert sum(n for n, _ in sizes) == len(windows.xy) == 14000
    assert max(b for _, b in sizes) <= band_bytes, max(sizes)


def test_bounded_map_keeps_few_items_in_flight():
    from concurrent.futures import ThreadPoolExecutor

    from stpath.wsi.windows import bounded_map

    submitted = []

    def items():
        for i in range(50):
            submitted.append(i)
            yield i

    with ThreadPoolExecutor(max_workers=4) as pool:
        for k, value in enumerate(bounded_map(pool, lambda x: x * x, items(), 3)):
            assert value == k * k
            assert len(submitted) - k <= 3


def test_real_her2st_patches_at_each_branch_scale(tmp_path):
    """Real HER2ST C2 (0.688 um/px from its 291 px spot pitch): CMRCNet's 224 px at 0.5 um/px span
    112 um (a 163 px window resized up), CUCA's 224 px at 0.69 um/px the released native crop of
    about 155 um (a 225 px window, resized by 0.3 %); each patch file records the scale it was cut
    at, and both are centred on the same spots."""
    from stpath.wsi.cut import spot_patches
    from stpath.wsi.patches import read_patch_scale

    path = shared("her2st", "images", "C2.jpg")
    centres = np.array([[6930.58, 3510.24], [6674.96, 3517.82], [5000.0, 5000.0]])
    slide_um = 0.6880980086094998
    fields = {}
    for scale, window in ((ImageScale(0.5, 224), 163), (ImageScale(0.69, 224), 225)):
        out = tmp_path / f"{scale.key}.h5"
        assert spot_patches(path, centres, ["a", "b", "c"], slide_um, "C2", scale, out) == (3, 0)
        img, coords, _, attrs = read_patches_h5(out)
        assert read_patch_scale(out) == scale and img.shape == (3, 224, 224, 3)
        assert attrs["window_level_px"] == window
        assert np.abs(coords + window / 2 - centres).max() <= 0.5 + 1e-9  # the same spot centres
        fields[scale.key] = window * slide_um
    assert fields["224px_0.5um"] == pytest.approx(112, abs=0.5) and fields["224px_0.69um"] == pytest.approx(
        155, abs=0.5
    )
