"""Architecture presets of pathology foundation models, as their model cards give them to timm
(the weights come from a local file). Layer classes are named, not imported, so that the workflow
can read a preset's input size without importing torch."""

from __future__ import annotations

PRESETS: dict[str, dict] = {
    "virchow2": dict(
        name="vit_huge_patch14_224",
        img_size=224,
        init_values=1e-5,
        reg_tokens=4,
        mlp_ratio=5.3375,
        mlp_layer="SwiGLUPacked",
        act_layer="SiLU",
        dynamic_img_size=True,
    ),
    "uni": dict(name="vit_large_patch16_224", img_size=224, init_values=1e-5, dynamic_img_size=True),
    # CONCH's image tower is a ViT-B/16 (trained at 448 px); the weight file must hold the timm
    # trunk's keys (open_clip's visual.trunk.*, prefix removed). Run here at the patches' 224 px,
    # its position embedding resampled by timm when the file is loaded.
    "conch": dict(name="vit_base_patch16_224", img_size=224, dynamic_img_size=True),
    # the HEST-Benchmark's ImageNet baseline (timm's resnet50 weights from a local file); any input size
    "resnet50": dict(name="resnet50", img_size=None),
}
