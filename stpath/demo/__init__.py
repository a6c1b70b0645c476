"""The embedded demo dataset: synthetic H&E-like slides, Visium folders and a single-cell reference
with known cell-type abundances, generated deterministically from a seed."""
