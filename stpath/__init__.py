"""stpath: spatial transcriptomics from H&E histology (CUCA, CMRCNet) as a library.

The Snakemake workflow calls thin scripts that call this package; everything here is importable
and testable without Snakemake.
"""

__version__ = "0.1.0"
