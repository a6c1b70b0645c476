"""Open whole-slide images (SVS, NDPI, MRXS, pyramidal TIFF, ...) and plain JPEG/PNG through one
interface: OpenSlide for slide formats, OpenSlide's ImageSlide for ordinary images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openslide
from PIL import Image

from ..errors import InputError

# Legacy-ST and HER2ST images are ~92 Mpx JPEGs; PIL's bomb guard would warn or refuse.
Image.MAX_IMAGE_PIXELS = None


DECODE_ERRORS = (openslide.OpenSlideError, OSError, SyntaxError, ValueError)


def _require_slide(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "slide file not found", "correct the 'slide' column of the sample sheet")
    return path


def slide_header(path: str | Path) -> tuple[tuple[int, int], float | None]:
    """The slide's size (level-0 px) and stored pixel size, read from its header without decoding
    pixels (cheap: the pre-flight calls it for every slide)."""
    path = _require_slide(path)
    try:
        slide = openslide.open_slide(str(path))
    except DECODE_ERRORS as exc:
        raise InputError(
            path,
            f"not a slide or image OpenSlide or Pillow can open ({type(exc).__name__}: {exc})",
            "point the 'slide' column at the H&E image (SVS, NDPI, MRXS, TIFF, JPEG, PNG, ...); re-download it if the file is damaged",
        ) from None
    with slide:
        if isinstance(slide, openslide.ImageSlide):
            check_upright(path)
        return slide.dimensions, slide_um_per_px(slide)


EXIF_ORIENTATION = 0x0112
TURNED = {
    2: "mirrored",
    3: "rotated 180 degrees",
    4: "mirrored vertically",
    5: "transposed",
    6: "rotated 90 degrees",
    7: "transversed",
    8: "rotated 270 degrees",
}


def check_upright(path: Path) -> None:
    """An ordinary image (JPEG, PNG, TIFF read by Pillow) must be stored upright: a viewer turns an
    image by its EXIF Orientation tag, so spot coordinates drawn on what the viewer shows belong to
    the turned image, while the pixels read here are the stored ones. Refused rather than turned,
    so that the coordinates and every output are in one frame the user can check."""
    with Image.open(path) as image:
        orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    if orientation not in (0, 1):
        raise InputError(
            path,
            f"the image is stored {TURNED.get(orientation, 'turned')} with an EXIF Orientation tag ({orientation}) that viewers apply "
            "and this pipeline does not: spot coordinates drawn on the upright view would miss their tissue",
            "save the image upright with the tag removed (e.g. PIL.ImageOps.exif_transpose, or exiftran -ai), "
            "and give spot coordinates of that upright image",
        )


def open_slide(path: str | Path) -> openslide.AbstractSlide:
    """Open a slide and decode its smallest level, so a truncated or corrupt file fails here."""
    path = _require_slide(path)
    try:
        slide = openslide.open_slide(str(path))
        level = slide.level_count - 1
        w, h = slide.level_dimensions[level]
        slide.read_region((0, 0), level, (w, h)).load()
        # A tiled TIFF truncated near its end loses its last tiles: probe the far corner at level 0.
        W, H = slide.dimensions
        slide.read_region((max(W - 64, 0), max(H - 64, 0)), 0, (min(64, W), min(64, H))).load()
    except DECODE_ERRORS as exc:
        raise InputError(
            path,
            f"slide cannot be decoded ({type(exc).__name__}: {exc}); the file is truncated or corrupt",
            "re-download or re-export the slide and check its size and checksum",
        ) from exc
    return slide


def slide_um_per_px(slide: openslide.AbstractSlide) -> float | None:
    """Pixel size stored in the slide (OpenSlide's normalised mpp properties), if any."""
    props = slide.properties
    mpp_x = props.get(openslide.PROPERTY_NAME_MPP_X)
    mpp_y = props.get(openslide.PROPERTY_NAME_MPP_Y)
    if mpp_x is None:
        return None
    x = float(mpp_x)
    y = float(mpp_y) if mpp_y is not None else x
    if not (x > 0 and np.isfinite(x)):
        return None
    return (x + y) / 2.0


def read_rgb(
    slide: openslide.AbstractSlide, xy_level0: tuple[int, int], level: int, size: tuple[int, int]
) -> np.ndarray:
    """read_region as an RGB array; transparent pixels (outside the scanned area) become white."""
    rgba = slide.read_region((int(xy_level0[0]), int(xy_level0[1])), level, (int(size[0]), int(size[1])))
    arr = np.asarray(rgba)
    if arr[..., 3].min() == 255:  # fully opaque: the common case inside a scan, no compositing needed
        return np.ascontiguousarray(arr[..., :3])
    canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    canvas.alpha_composite(rgba)
    return np.asarray(canvas.convert("RGB"))


def thumbnail(slide: openslide.AbstractSlide, max_px: int) -> tuple[np.ndarray, float]:
    """RGB thumbnail whose longer side is at most ``max_px``; returns it with its downsample factor."""
    W, H = slide.dimensions
    thumb = np.asarray(slide.get_thumbnail((max_px, max_px)).convert("RGB"))
    return thumb, W / thumb.shape[1]
