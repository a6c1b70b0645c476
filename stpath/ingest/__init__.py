"""Ingest stage: the sample sheet and its folds, one reader per spatial format, and the ingested
sample (raw counts, spot centres in slide pixels, pixel size) as one AnnData per sample."""
