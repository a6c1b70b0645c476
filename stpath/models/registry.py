"""Every model stpath trains, by name: the single source of model names (the config schema's
enums and the workflow's wildcard constraints are checked against it), what each predicts, how it
predicts and which builder assembles it. Importing it imports no torch: builders are named as
``module:function`` under ``stpath.models`` and imported when a model is built."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field

EXPRESSION = "expression"  # normalised expression per spot (CMRCNet's task)
CELL_TYPES = "cell_types"  # cell-type abundance per spot (CUCA's task)
SECTIONS = {EXPRESSION: "expression_models", CELL_TYPES: "cell_type_models"}  # each task's config section


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str  # EXPRESSION or CELL_TYPES
    builder: str  # "module:function" under stpath.models, called as (settings, n_genes, n_outputs, **variant)
    variant: dict = field(default_factory=dict)  # settings this model fixes (its ablation)
    retrieval: bool = False  # predicts by retrieving the training spots' expression (needs keys)
    closed_form: str = (
        ""  # not trained by the loop: "ridge" (a head fitted on frozen features) or "keys" (retrieval keys stored)
    )
    frozen_encoder: bool = False  # runs the frozen pretrained encoder of expression_models.frozen

    def build(self, settings, n_genes: int, n_outputs: int):
        module, function = self.builder.split(":")
        build = getattr(importlib.import_module(f"stpath.models.{module}"), function)
        return build(settings, n_genes, n_outputs, **self.variant)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("cmrcnet", EXPRESSION, "cmrcnet:build", retrieval=True),
        ModelSpec("bleep", EXPRESSION, "cmrcnet:build", {"reconstruction": False}, retrieval=True),
        ModelSpec("direct", EXPRESSION, "direct:build"),
        ModelSpec(
            "hest_probe", EXPRESSION, "frozen:build_probe", closed_form="ridge", frozen_encoder=True
        ),  # HEST-Benchmark's
        ModelSpec("frozen_retrieval", EXPRESSION, "frozen:build_retrieval", closed_form="keys", frozen_encoder=True),
        ModelSpec("cuca", CELL_TYPES, "cuca:build"),
        ModelSpec("cuca_image_only", CELL_TYPES, "cuca:build_image_only"),  # the released FMMLP
        ModelSpec("cuca_no_molecule", CELL_TYPES, "cuca:build", {"w_rec": 0.0, "w_align": 0.0}),
        ModelSpec("linear_probe", CELL_TYPES, "cuca:build_probe"),  # trained like CUCA, as released
        ModelSpec("ridge_probe", CELL_TYPES, "cuca:build_probe", closed_form="ridge"),
    )
}


def names(task: str) -> list[str]:
    return [name for name, spec in MODELS.items() if spec.task == task]


def with_frozen_encoder(names_: list[str]) -> list[str]:
    """Those of ``names_`` that run expression_models.frozen's pretrained encoder."""
    return [n for n in names_ if MODELS[n].frozen_encoder]


def section(name: str) -> str:
    """The config section of a model's branch (its settings, its patch scale); ``name`` may be a
    seed replicate's."""
    return SECTIONS[get(split_replicate(name)[0]).task]


# ---- seed replicates ---------------------------------------------------------------------------
# A model trained over several seeds (its branch's ``train.seeds``): the first seed's runs keep the
# model's own folders (``models/cuca/``, ``predictions/cuca/``); each further seed's runs are a
# replicate named ``<model>/seed<s>`` (``models/cuca/seed3408/``), scored beside the first.
REPLICATE = re.compile(r"^(?P<model>[a-z_]+)/seed(?P<seed>\d+)$")
WILDCARD = r"(?:{})(?:/seed\d+)?"  # formatted with the models' names: the workflow's {model} constraint


def train_seeds(train: dict) -> list[int]:
    """The seeds a branch's ``train`` section trains each model with: ``seed``, ``seed + 1``, ...
    (``seeds`` of them, default one)."""
    return [int(train["seed"]) + i for i in range(int(train.get("seeds", 1)))]


def replicates(models: list[str], train: dict) -> list[str]:
    """Every training of ``models`` over the seeds of ``train``: each model's name (its first seed),
    then its replicates."""
    seeds = train_seeds(train)
    return [m for m in models] + [f"{m}/seed{s}" for s in seeds[1:] for m in models]


def split_replicate(name: str) -> tuple[str, int | None]:
    """(model, seed) of a replicate's name; (name, None) for a model's own (its first seed)."""
    found = REPLICATE.match(name)
    return (found["model"], int(found["seed"])) if found else (name, None)


def get(name: str, task: str | None = None) -> ModelSpec:
    spec = MODELS.get(name)
    if spec is None or (task is not None and spec.task != task):
        raise ValueError(
            f"unknown {task or ''} model {name!r}; use one of {names(task) if task else list(MODELS)}".replace(
                "  ", " "
            )
        )
    return spec
