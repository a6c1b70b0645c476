"""Cell-type deconvolution of the spots with cell2location: reference signatures
(``reference``), spatial mapping (``mapping``), the per-sample output every later stage reads
(``output``), checks against truth and markers (``checks``) and QC figures (``figures``)."""
