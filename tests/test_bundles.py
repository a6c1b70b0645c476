"""Model bundles and whole-slide prediction: a bundle rebuilt from its folder alone predicts what
the model predicted in its run, and each way a bundle can be misapplied is refused before any job."""

import json
import shutil

import h5py
import numpy as np
import pytest
import torch

from stpath.bundles import check_applicable, read_bundle
from stpath.celltypes import wholeslide as cell_wholeslide
from stpath.celltypes.settings import CellTypeSettings
from stpath.errors import InputError
from stpath.expression import wholeslide as expr_wholeslide
from stpath.expression.models import build
from stpath.expression.settings import ExpressionSettings
from stpath.models.cmrcnet import CMRCNetConfig
from stpath.models.cuca import CUCAConfig
from stpath.wsi.scale import ImageScale

from conftest import tiny_encoder

ENCODER = tiny_encoder(depth=2)
GENES = [f"G{i}" for i in range(12)]
CPU = torch.device("cpu")
SCALE = ImageScale(0.5, 64)
RUN = {"dataset": "run1", "training_samples": ["A"], "scale": SCALE}  # what a bundle records of its run


def expression_settings(**kw) -> ExpressionSettings:
    return ExpressionSettings(
        cmrcnet=CMRCNetConfig(encoder=ENCODER, proj_dim=16, gene_tokens=2, first_cross_heads=2, fusion_heads=2),
        retrieval_k=5,
        **kw,
    )


def tile_file(path, n=9, px=64, seed=0):
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        f["img"] = rng.integers(0, 256, (n, px, px, 3), dtype=np.uint8)
        f["coords"] = np.stack([np.arange(n) * 2 * px, np.zeros(n, int)], 1)
        f.attrs.update(window_level_px=px, level_downsample=2.0, px=px, um_per_px=0.5)
    return path


def saved_model(name, settings, n_out, path, n_types=None):
    torch.manual_seed(1)
    if n_types is None:
        model = build(name, n_out, settings)
    else:
        from stpath.celltypes.models import build as build_cells

        model = build_cells(name, n_types, len(GENES), settings)
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def expression_bundles(tmp_path_factory):
    """A retrieval (cmrcnet) and a head (direct) model of one 'run', bundled."""
    root = tmp_path_factory.mktemp("bundles")
    settings = expression_settings()
    train_expression = torch.rand(40, len(GENES), generator=torch.Generator().manual_seed(0))
    made = {}
    for name in ("cmrcnet", "direct"):
        checkpoint = saved_model(name, settings, len(GENES), root / f"{name}.pt")
        predictor = expr_wholeslide.from_run(name, settings, checkpoint, GENES, train_expression, CPU)
        columns = expr_wholeslide.map_genes(GENES, ["G3", "NOT_LEARNT"], train_expression.numpy(), 4)
        expr_wholeslide.make_bundle(
            predictor,
            settings,
            checkpoint,
            dataset="run1",
            training_samples=["A", "B"],
            scale=SCALE,
            stain={},
            columns=columns,
            folder=root / "bundles" / name,
        )
        made[name] = (predictor, columns)
    return root, made


@pytest.mark.parametrize("name", ["cmrcnet", "direct"])
def test_expression_bundle_round_trip_equals_the_runs_prediction(expression_bundles, name, tmp_path):
    root, made = expression_bundles
    predictor, columns = made[name]
    tiles = tile_file(tmp_path / "tiles.h5")
    in_run = expr_wholeslide.predict_tiles(predictor, tiles, columns, CPU, SCALE, sample="S", split="final", chunk=4)
    bundle = read_bundle(root / "bundles" / name)
    assert (
        bundle.retrieval == (name == "cmrcnet")
        and bundle.map_genes == columns
        and bundle.settings["cmrcnet"]["encoder"]["weights"] == ""
    )
    applied = expr_wholeslide.predict_tiles(
        expr_wholeslide.from_bundle(bundle, CPU), tiles, columns, CPU, SCALE, sample="S", split="bundle"
    )
    np.testing.assert_allclose(applied.predicted.to_numpy(), in_run.predicted.to_numpy(), rtol=1e-5, atol=1e-6)
    assert in_run.predicted.to_numpy().std(axis=0).mean() > 0  # not a constant prediction


def test_map_genes_are_learnt_markers_then_the_most_variable_training_genes():
    expression = np.zeros((30, len(GENES)), np.float32)
    expression[:, 7] = np.arange(30)  # most variable
    expression[:, 2] = np.arange(30) % 2  # second
    assert expr_wholeslide.map_genes(GENES, ["G9", "NOPE"], expression, 2) == ["G9", "G7", "G2"]
    assert expr_wholeslide.map_genes(GENES, [], expression, 1, requested=["G1", "G1"]) == ["G1"]
    with pytest.raises(InputError, match="map_genes has 1 gene"):
        expr_wholeslide.map_genes(GENES, [], expression, 1, requested=["G1", "NOPE"])


def test_cell_type_bundle_round_trip_equals_the_runs_prediction(tmp_path):
    settings = CellTypeSettings(
        cuca=CUCAConfig(encoder=ENCODER, preset="", finetune="full", hidden_dim=16, proj_dim=16, molecule_dims=(32, 32))
    )
    types = ["T0", "T1", "T2"]
    checkpoint = saved_model("cuca", settings, None, tmp_path / "cuca.pt", n_types=len(types))
    predictor = cell_wholeslide.from_run("cuca", settings, checkpoint, GENES, types, CPU)
    cell_wholeslide.make_bundle(
        predictor,
        settings,
        checkpoint,
        **RUN,
        stain={},
        folder=tmp_path / "cuca",
    )
    tiles = tile_file(tmp_path / "tiles.h5")
    in_run = cell_wholeslide.predict_tiles(predictor, tiles, CPU, SCALE, sample="S", split="final")
    bundle = read_bundle(tmp_path / "cuca")
    assert bundle.outputs == types and bundle.input_genes == GENES and not bundle.retrieval
    applied = cell_wholeslide.predict_tiles(
        cell_wholeslide.from_bundle(bundle, CPU), tiles, CPU, SCALE, sample="S", split="bundle"
    )
    np.testing.assert_allclose(applied.predicted.to_numpy(), in_run.predicted.to_numpy(), rtol=1e-5, atol=1e-6)


def test_bundle_at_another_scale_or_for_other_genes_is_refused(expression_bundles):
    root, _ = expression_bundles
    bundle = read_bundle(root / "bundles" / "cmrcnet")
    check_applicable(bundle, SCALE, {}, ["G1", "G11"])  # what it was made for
    with pytest.raises(
        InputError, match=r"learnt from 64 px images at 0.5 um/px, but this run cuts tiles of 64 px at 1 um/px"
    ) as err:
        check_applicable(bundle, ImageScale(1.0, 64), {}, [])
    assert "tiling.um_per_px: 0.5" in str(err.value) and "bundle.json" in str(err.value)
    with pytest.raises(InputError, match=r"tiles of 224 px at 0.5 um/px") as err:
        check_applicable(bundle, ImageScale(0.5, 224), {}, [])
    assert "tiling.px: 64" in str(err.value)
    with pytest.raises(
        InputError, match=r"apply.genes asks for 1 gene\(s\) .* does not predict, e.g. \['MISSING'\]"
    ) as err:
        check_applicable(bundle, SCALE, {}, ["G1", "MISSING"])
    assert "choose genes among the bundle's 12" in str(err.value)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / "bundle.json").unlink(), r"not a model bundle \(no bundle.json\)"),
        (lambda d: (d / "keys.h5").unlink(), r"the bundle lacks \['keys.h5'\]"),
        (lambda d: (d / "bundle.json").write_text("{not json"), "unreadable bundle manifest"),
        (lambda d: edit_manifest(d, outputs=["G0"]), "does not match its fingerprint"),
        (lambda d: edit_manifest(d, format_version=99), "bundle format version 99"),
    ],
)
def test_damaged_bundle_is_refused_with_its_path(expression_bundles, tmp_path, damage, message):
    root, _ = expression_bundles
    folder = shutil.copytree(root / "bundles" / "cmrcnet", tmp_path / "cmrcnet")
    damage(folder)
    with pytest.raises(InputError, match=message) as err:
        read_bundle(folder)
    assert str(folder) in str(err.value)


def edit_manifest(folder, **changes):
    manifest = json.loads((folder / "bundle.json").read_text())
    (folder / "bundle.json").write_text(json.dumps(manifest | changes))


def test_bundle_written_half_leaves_no_folder(expression_bundles, tmp_path):
    from stpath.bundles import write_bundle

    root, _ = expression_bundles
    bundle = read_bundle(root / "bundles" / "cmrcnet")
    with pytest.raises(FileNotFoundError):
        write_bundle(tmp_path / "b", bundle, tmp_path / "no_weights.pt")
    assert list(tmp_path.iterdir()) == []


def test_whole_slide_titles_state_the_protocol():
    import pandas as pd

    from stpath.ingest.folds import assign_folds, protocol_of

    sheet = pd.DataFrame({"sample": ["A1", "A2", "B1"], "patient": ["A", "A", "B"]})
    by_slide = assign_folds(sheet, "leave_one_slide_out", None, 0)
    fold_of = {
        s: int(by_slide.loc[(by_slide["sample"] == s) & (by_slide["role"] == "test"), "fold"].iloc[0])
        for s in sheet["sample"]
    }
    assert protocol_of(f"fold{fold_of['A1']}", "A1", by_slide).endswith(
        "within-patient (other slides of its patient are in training)"
    )
    assert protocol_of(f"fold{fold_of['B1']}", "B1", by_slide).endswith(
        "cross-patient (its patient is not in training)"
    )
    by_patient = assign_folds(sheet, "patient", 0, 0)
    fold = int(by_patient.loc[(by_patient["sample"] == "A1") & (by_patient["role"] == "test"), "fold"].iloc[0])
    assert (
        protocol_of(f"fold{fold}", "A1", by_patient)
        == f"held out in fold{fold}, cross-patient (its patient is not in training)"
    )
    assert protocol_of("final").startswith("image-only slide, final model") and protocol_of("bundle").startswith(
        "model bundle of another run"
    )


def test_a_bundle_of_stain_normalised_images_carries_its_target_and_asks_for_it(tmp_path):
    """A model learnt from Macenko-normalised patches: the bundle holds the target fit, and a run
    must map its tiles to that very fit (not normalise, or normalise elsewhere, is refused)."""
    from stpath.wsi.stain import StainFit, read_stain_fit

    target = StainFit("macenko", "A", 64, ((0.65, 0.07), (0.70, 0.99), (0.29, 0.11)), (1.9, 1.0))
    settings = expression_settings()
    checkpoint = saved_model("direct", settings, len(GENES), tmp_path / "direct.pt")
    predictor = expr_wholeslide.from_run("direct", settings, checkpoint, GENES, torch.rand(8, len(GENES)), CPU)
    expr_wholeslide.make_bundle(
        predictor,
        settings,
        checkpoint,
        **RUN,
        stain=target.record(),
        columns=GENES[:2],
        folder=tmp_path / "b",
    )
    bundle = read_bundle(tmp_path / "b")
    assert read_stain_fit(tmp_path / "b" / "stain_target.json") == target and bundle.stain == target.record()
    check_applicable(bundle, SCALE, read_stain_fit(tmp_path / "b" / "stain_target.json").record(), [])
    for tiles, said in (
        ({}, "not normalised"),
        ({"method": "macenko"}, "normalised by macenko to another target"),
    ):
        with pytest.raises(InputError, match="stain-normalised by macenko to A; this run's tiles are " + said) as err:
            check_applicable(bundle, SCALE, tiles, [])
        assert f"target: {tmp_path / 'b' / 'stain_target.json'}" in str(err.value)


def test_tiles_of_another_field_of_view_than_the_model_learnt_are_refused(expression_bundles, tmp_path):
    """Tiles of the model's field at another pixel count are resized to it; tiles of another field
    (a workflow that handed the wrong tile folder) are refused before any tile is predicted."""
    predictor, columns = expression_bundles[1]["direct"]
    small = tile_file(tmp_path / "small.h5", px=32)
    with h5py.File(small, "a") as f:
        f.attrs["um_per_px"] = 1.0  # 32 px at 1 um/px: the model's 32 um field, resized to its 64 px
    resized = expr_wholeslide.predict_tiles(predictor, small, columns, CPU, SCALE, sample="S", split="f")
    assert resized.predicted.shape == (9, len(columns))
    tiles = tile_file(tmp_path / "tiles.h5")  # 64 px at 0.5 um/px: 32 um
    with pytest.raises(
        ValueError, match=r"tiles of 64 px at 0.5 um/px \(32 um\), but the model learnt from 64 px at 1 um/px"
    ):
        expr_wholeslide.predict_tiles(predictor, tiles, columns, CPU, ImageScale(1.0, 64), sample="S", split="f")
