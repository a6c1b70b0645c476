"""Image-to-expression models: building blocks (``blocks``), image encoders (``encoders``),
CMRCNet with its BLEEP ablation (``cmrcnet``), direct regression (``direct``) and losses."""
