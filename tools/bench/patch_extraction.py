"""Spot-patch extraction throughput on a large synthetic pyramidal slide.

Compares, on the same >= 20k Visium-like spots:
  * the pipeline's band extractor (stpath.wsi.windows.extract),
  * a naive loop of one read_region + resize per spot,
  * the decode bound: one sequential pass reading the whole level once, no cropping.
Run: python -m tools.bench.patch_extraction [--side 32768] [--pitch-um 55] [--out bench.tsv]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import openslide

from stpath.demo.write import write_pyramid_tiff
from stpath.wsi.scale import ImageScale
from stpath.wsi.slide import read_rgb
from stpath.wsi.windows import centred_windows, extract, inside, read_window


def make_slide(path: Path, side: int, seed: int = 0) -> None:
    """H&E-like texture (so JPEG tiles cost what real ones do), tiled 256 px JPEG, 2x pyramid."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(side // 8, side // 8, 3), dtype=np.uint8)
    img = np.repeat(np.repeat(base, 8, axis=0), 8, axis=1)
    img = (img.astype(np.uint16) * 3 // 4 + 40 + rng.integers(0, 24, size=img.shape, dtype=np.uint8)).astype(np.uint8)
    write_pyramid_tiff(path, img, 0.25)


def grid_centres(side: int, um_per_px: float, pitch_um: float) -> np.ndarray:
    """Hexagonal spot grid (Visium layout) with the given centre-to-centre pitch."""
    pitch = pitch_um / um_per_px
    rows = np.arange(pitch, side - pitch, pitch * np.sqrt(3) / 2)
    pts = [(x + (i % 2) * pitch / 2, y) for i, y in enumerate(rows) for x in np.arange(pitch, side - pitch, pitch)]
    return np.array(pts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=32768, help="slide side at level 0 (0.25 um/px)")
    ap.add_argument(
        "--pitch-um", type=float, default=55.0, help="spot pitch; 55 um = HEST-style pseudo-spots of Visium HD/Xenium"
    )
    ap.add_argument("--naive-max", type=int, default=3000, help="spots timed for the naive loop")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.tif"
        t = time.perf_counter()
        make_slide(path, args.side)
        print(
            f"slide {args.side}x{args.side} px at 0.25 um/px written in {time.perf_counter() - t:.1f} s ({path.stat().st_size / 1e6:.0f} MB)"
        )
        slide = openslide.OpenSlide(str(path))
        # Visium pitch in this slide; 224 px patches at 0.5 um/px = 448 level-0 px = 224 px at level 1
        windows = centred_windows(slide, grid_centres(args.side, 0.25, args.pitch_um), 0.25, ImageScale(0.5, 224))
        windows = windows.subset(inside(slide, windows))
        n = len(windows.xy)
        print(f"{n} spots, level {windows.level}, window {windows.size} px")

        slide = openslide.OpenSlide(str(path))  # cold tile cache for each method
        t = time.perf_counter()
        patches = extract(slide, windows, 224, progress=False)
        ours = n / (time.perf_counter() - t)

        slide = openslide.OpenSlide(str(path))
        m = min(n, args.naive_max)
        pick = np.random.default_rng(0).permutation(n)[:m]  # random order, like a per-spot dataset loader
        t = time.perf_counter()
        for i in pick:
            read_window(slide, windows, int(i), 224)
        naive = m / (time.perf_counter() - t)
        assert all(np.array_equal(patches[i], read_window(slide, windows, int(i), 224)) for i in pick[:20])

        slide = openslide.OpenSlide(str(path))
        W, H = slide.level_dimensions[windows.level]
        rows = max(1, (256 << 20) // (4 * W))
        t = time.perf_counter()
        for y in range(0, H, rows):
            read_rgb(slide, (0, int(y * windows.downsample)), windows.level, (W, min(rows, H - y)))
        decode = n / (time.perf_counter() - t)  # spots/s if extraction cost only the level decode

    lines = [
        ("pipeline band extractor", ours),
        ("naive per-spot read_region loop", naive),
        ("decode bound (one pass over the level)", decode),
    ]
    for name, v in lines:
        print(f"{name:42s} {v:8.0f} patches/s")
    print(f"speed-up over naive: {ours / naive:.1f}x; fraction of decode bound: {ours / decode:.0%}")
    if args.out:
        with open(args.out, "w") as f:
            f.write("method\tpatches_per_s\n" + "".join(f"{k}\t{v:.1f}\n" for k, v in lines))


if __name__ == "__main__":
    main()
