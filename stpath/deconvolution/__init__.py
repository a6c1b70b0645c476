"""Cell-type deconvolution of the spots with cell2location: reference signatures
(``reference``), spatial mapping (``mapping``), checks against truth and markers (``evaluate``)
and QC figures (``figures``)."""
