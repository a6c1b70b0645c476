"""Checks of the model branches' image encoders before any job: pretrained weight files, presets
and the sizes they fix, and the input size each encoder takes (from the preset, the config or
timm's pretrained config) against the spot patches."""

from __future__ import annotations

from pathlib import Path

from .config import RunSettings
from .errors import InputError
from .models.presets import PRESETS
from .wsi.scale import RunScales

PRESET_OVERRIDES = ("name", "img_size", "patch_size", "embed_dim", "depth", "num_heads")


def check_finetuning(run: RunSettings, schema: dict | None = None) -> None:
    """A frozen or LoRA encoder has its pretrained weights; encoder sizes are not given where a
    preset overrides them (``schema``: the config schema, for its defaults)."""
    cells = run.cell_types
    if cells["preset"] and schema is not None:
        defaults = schema["properties"]["cell_type_models"]["properties"]["encoder"]["properties"]
        given = {
            k: cells["encoder"][k]
            for k in PRESET_OVERRIDES
            if cells["encoder"].get(k, defaults[k]["default"]) != defaults[k]["default"]
        }
        if given:
            raise InputError(
                None,
                f"cell_type_models.encoder sets {given}, which preset {cells['preset']!r} overrides: its architecture is built, not these sizes",
                'for the preset, leave those encoder keys out; for an encoder of these sizes, set cell_type_models.preset: ""',
            )
    if cells["finetune"] != "full" and not cells["encoder"]["weights"]:
        preset = (
            f" and preset: \"\" with the encoder's sizes (else the preset's {cells['preset']} is trained from scratch)"
            if cells["preset"]
            else ""
        )
        raise InputError(
            None,
            f"cell_type_models.finetune: {cells['finetune']} keeps the encoder frozen, but no pretrained weights are given",
            "set cell_type_models.encoder.weights to the local weight file of the encoder (e.g. Virchow2's "
            f"pytorch_model.bin), or finetune: full{preset} to train one",
        )


def check_encoder_weights(run: RunSettings, branch: str) -> None:
    weights = run.branch(branch)["encoder"]["weights"]
    if weights and not Path(weights).exists():
        raise InputError(
            weights,
            "encoder weight file not found",
            f"download the encoder's weights once (e.g. huggingface paige-ai/Virchow2) and point {branch}.encoder.weights at the file",
        )


def check_frozen_encoder(run: RunSettings) -> None:
    """The frozen encoder's weight file exists and its input is the patches' size."""
    expr, scales = run.expression, run.scales
    frozen = expr["frozen"]
    if frozen["weights"] and not Path(frozen["weights"]).exists():
        raise InputError(
            frozen["weights"],
            "frozen encoder weight file not found",
            "download the encoder's weights once (e.g. MahmoodLab/UNI's pytorch_model.bin) and point expression_models.frozen.weights at the file",
        )
    section = {
        "preset": frozen["preset"],
        "encoder": {**expr["encoder"], "name": frozen["name"] or expr["encoder"]["name"]},
    }
    size, key = encoder_input(section)
    px, where = scales.patches_of("expression_models").px, patches_key(scales, "expression_models")
    if size is not None and size != px:
        raise InputError(
            None,
            f"{where}.px is {px} px but the frozen encoder (expression_models.frozen, {key}) takes {size} px inputs",
            f"set {where}.px to {size}, or choose a frozen encoder of {px} px",
        )


def encoder_input(section: dict) -> tuple[int | None, str]:
    """The input size (px) the branch's image encoder takes, and the config key that sets it; None
    when the encoder takes any size."""
    preset = section.get("preset", "")
    if preset:
        return PRESETS[preset]["img_size"], f"preset {preset!r}"
    encoder = section["encoder"]
    if not encoder["name"]:
        return encoder["img_size"], "encoder.img_size"
    return timm_fixed_input(encoder["name"]), f"encoder.name {encoder['name']!r}"


def timm_fixed_input(name: str) -> int | None:
    """The input size of a timm architecture that accepts only one (ViTs without dynamic size),
    from timm's pretrained config; None for any size, or when timm is not importable here."""
    try:
        import timm
    except ImportError:
        return None
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None or not getattr(cfg, "fixed_input_size", False):
        return None
    return int(cfg.input_size[-1])


def patches_key(scales: RunScales, branch: str) -> str:
    """The config section that sets a branch's patch scale."""
    return f"{branch}.patches" if branch in scales.branches else "patches"


def check_input_size(run: RunSettings, branch: str) -> None:
    """The models learn from spot patches: a patch must be what the encoder takes."""
    scales = run.scales
    size, key = encoder_input(run.branch(branch))
    px, where = scales.patches_of(branch).px, patches_key(scales, branch)
    if size is not None and size != px:
        raise InputError(
            None,
            f"{where}.px is {px} px but the {branch} encoder ({branch}.{key}) takes {size} px inputs",
            f"set {where}.px to {size} (and {where}.um_per_px to keep its field of view), or choose an encoder of {px} px",
        )
