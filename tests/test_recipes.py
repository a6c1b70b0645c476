"""The recipes of docs/development.md, each followed once: a throwaway model, input format and
dataset are added the way the recipe says, used, and taken away again."""

import shutil

import pandas as pd
import pytest
import yaml

from stpath.models import registry

from conftest import REPO, run_snakemake, shared, tiny_encoder


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

    spec = registry.ModelSpec("throwaway", registry.EXPRESSION, "direct:build")
    monkeypatch.setitem(registry.MODELS, spec.name, spec)
    assert registry.get("throwaway", registry.EXPRESSION) is spec and "throwaway" in registry.names(registry.EXPRESSION)
    small = tiny_encoder(depth=1, img_size=32)
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


@pytest.mark.workflow
def test_usage_opens_with_a_visium_sheet_and_config_that_dry_run(tmp_path):
    """docs/usage.md's first section as a user follows it: its sheet and its config, with data_root,
    the sheet's path and the weight file pointed here, and four demo Visium sections written where
    the sheet's rows say; the dry run passes every check and plans training and maps."""
    import re

    from stpath.demo import synth, write

    text = (REPO / "docs" / "usage.md").read_text()
    section = text.split("## Your own Visium slides", 1)[1].split("\n## ", 1)[0]
    sheet_text = re.search(r"```tsv\n(.*?)```", section, re.S).group(1)
    config = yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))
    sheet = pd.read_csv(__import__("io").StringIO(sheet_text), sep="\t", dtype=str)
    assert set(sheet.format) == {"visium"} and sheet.patient.nunique() == 2

    root = tmp_path / "data"
    params = synth.DemoSettings(size_px=1536, n_genes=120)
    sig = synth.signatures(3, params.n_genes)
    for seed, row in enumerate(sheet.itertuples(), start=3):
        s = synth.slide(seed, row.sample, row.patient, sig, params)
        (root / row.slide).parent.mkdir(parents=True, exist_ok=True)
        write.write_pyramid_tiff(root / row.slide, s.image, params.um_per_px)
        write.write_spaceranger(root / row.expression, s.image, s.spots, s.counts, list(sig.columns), params.um_per_px)
    reference = root / config["deconvolution"]["reference"]["path"]
    reference.parent.mkdir(parents=True)
    synth.reference(5, sig, params).write_h5ad(reference)
    (tmp_path / "weights.bin").write_bytes(b"")
    sheet.to_csv(tmp_path / "samples.tsv", sep="\t", index=False)
    config.update(data_root=str(root), samples=str(tmp_path / "samples.tsv"))
    config["cell_type_models"]["encoder"]["weights"] = str(tmp_path / "weights.bin")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    r = run_snakemake(["-n", "--cores", "2", "--configfile", str(tmp_path / "config.yaml")], tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    for rule in ("cell2location", "train_model", "predict_model", "slide_model", "bundle_model"):
        assert f"rule {rule}:" in r.stdout, rule
