"""Gene stage: expression normalisation and the gene sets both methods learn (``selection``), and
the files that hold them (``files``)."""
