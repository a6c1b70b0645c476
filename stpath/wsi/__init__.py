"""Whole-slide images: opening slides, tissue detection, square windows cut at a target pixel
size, the tissue tile grid (tiles.h5) and the spot patches (patches.h5), and their QC figure."""
