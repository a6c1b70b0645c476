"""The recipes of docs/development.md, each followed once: a throwaway model, input format and
dataset are added the way the recipe says, used, and taken away again."""

import shutil

import pandas as pd
import yaml

from stpath.models import registry

from conftest import REPO, run_snakemake, shared


def schema_enum(section: str, key: str) -> list[str]:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    items = schema["properties"][section]["properties"][key]
    return items.get("items", items)["enum"]


def test_recipe_add_a_model(monkeypatch):
    """Steps 1-2: a builder (here the direct family's, with a variant) and a ModelSpec; the model then
    builds and trains through the shared loop. Step 3: the schema check names what is missing."""
    import torch

    from stpath.expression.settings import ExpressionSettings
    from stpath.models.cmrcnet import CMRCNetConfig
    from stpath.models.encoders import EncoderConfig

    spec = registry.ModelSpec("throwaway", registry.EXPRESSION, "direct:build")
    monkeypatch.setitem(registry.MODELS, spec.name, spec)
    assert registry.get("throwaway", registry.EXPRESSION) is spec and "throwaway" in registry.names(registry.EXPRESSION)
    small = EncoderConfig(embed_dim=32, depth=1, num_heads=2, img_size=32, patch_size=16)
    model = spec.build(ExpressionSettings(cmrcnet=CMRCNetConfig(encoder=small, proj_dim=16)), 6, 6)
    images = torch.rand(4, 3, 32, 32)
    assert model.head.out_features == 6 and model(images, torch.rand(4, 6))["loss"].ndim == 0
    assert schema_enum("expression_models", "models") != registry.names(registry.EXPRESSION)  # step 3 is still to do
    monkeypatch.undo()
    assert "throwaway" not in registry.MODELS and schema_enum("expression_models", "models") == registry.names(
        registry.EXPRESSION
    )


def test_recipe_add_an_input_format(monkeypatch, tmp_path):
    """A throwaway format made of three reader functions (the counts-table readers, renamed) ingests
    the real hippocampus Slide-seq sample once it is in FORMATS."""
    from stpath.ingest import readers
    from stpath.ingest.ingest import QC, ingest
    from stpath.ingest.readers.counts_table import peek_counts_table, read_coordinates, read_counts_table_counts
    from stpath.ingest.sheet import Sample

    root = shared("spacexr_hippocampus", "spatial")
    monkeypatch.setitem(
        readers.FORMATS, "throwaway", readers.Format(read_coordinates, peek_counts_table, read_counts_table_counts)
    )
    sample = Sample(
        "hippocampus", "mouse1", None, root / "counts.csv", "throwaway", spots=root / "coords.csv", um_per_px=0.65
    )
    adata = ingest(sample, QC())
    assert adata.n_obs > 100 and adata.X.sum() > 0
    monkeypatch.undo()
    assert "throwaway" not in readers.FORMATS


def test_recipe_add_a_dataset(tmp_path):
    """A sample sheet of two real HER2ST sections and a config of the keys that differ from the
    defaults: the dry-run plans the whole chain (every cross-check passes)."""
    sheet = pd.read_csv(REPO / "config" / "samples_her2st.tsv", sep="\t").head(2)
    sheet.to_csv(tmp_path / "samples.tsv", sep="\t", index=False)
    config = {
        "dataset": "throwaway",
        "samples": str(tmp_path / "samples.tsv"),
        "data_root": str(shared("her2st")),
        "expression_models": {"models": ["direct"], "whole_slide": []},
        "folds": {"scheme": "leave_one_slide_out"},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    r = run_snakemake(["-n", "--cores", "1", "--configfile", str(tmp_path / "config.yaml")], tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "rule train_model:" in r.stdout and "results/throwaway/ingest/" in r.stdout
    shutil.rmtree(tmp_path / ".snakemake", ignore_errors=True)
