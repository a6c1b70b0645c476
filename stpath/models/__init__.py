"""The image models, timm-style: shared blocks (``layers``), image encoders with foundation-model
presets and LoRA (``encoders``, ``presets``), one file per family (``cmrcnet`` with its BLEEP
ablation, ``direct``, ``cuca`` with its image-only ablation and the linear probe), their losses,
and the ``registry`` that names every model. Importing this package imports no torch."""
