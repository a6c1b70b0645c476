"""Cell-type abundance from the image: CUCA, its image-only ablation and the linear probe."""
