"""The cell-type branch (CUCA, its image-only ablation, the linear probe): typed settings, the
deconvolution labels, fitting and applying the models, whole-slide inference, metrics as CUCA's
evaluation computes them, co-localisation, and figures. Never imports the expression branch."""
