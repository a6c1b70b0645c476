"""CUCA, its image-only ablation and the linear probe: architecture as the method section gives
it, the frozen-prefix training path, ridge probe, labels and metrics."""

import numpy as np
import pandas as pd
import pytest
import torch

from stpath.celltypes import models as am
from stpath.celltypes.probe import fit_probe
from stpath.celltypes.settings import CellTypeSettings, LabelSettings, cuca_training
from stpath.metrics import pearson_columns
from stpath.models.cuca import CUCA, CUCAConfig, MorphologyProjection
from stpath.models.encoders import LoraSettings, preset_kwargs
from stpath.models.losses import rmse
from stpath.predictions import SpotPrediction
from stpath.training.augment import to_model_input
from stpath.training.data import SpotSet
from stpath.training.loop import TIMING_COLUMNS, frozen_prefix_output
from stpath.wsi.scale import ImageScale

from conftest import tiny_encoder

ENCODER = tiny_encoder(depth=3)


def settings(finetune: str = "full", epochs: int = 3) -> CellTypeSettings:
    cuca = CUCAConfig(
        encoder=ENCODER,
        preset="",
        finetune=finetune,
        hidden_dim=16,
        proj_dim=16,
        molecule_dims=(32, 32),
        lora=LoraSettings(r=4, alpha=8, blocks=1),
    )
    return CellTypeSettings(
        cuca=cuca,
        train=cuca_training(epochs=epochs, batch_size=8, seed=3407, lr=0.002, weight_decay=1e-4),
        probe_alphas=(0.1, 10.0),
    )


CFG = settings()


def labelled_set(n=48, genes=10, types=4, size=64, seed=0):
    """Patches whose mean red level drives the first cell type: a signal an image model can learn."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, size, size, 3), generator=g, dtype=torch.uint8)
    labels = torch.rand(n, types, generator=g)
    labels[:, 0] = images[..., 0].float().mean(dim=(1, 2)) / 255
    sample = np.array(["A"] * (n // 2) + ["B"] * (n - n // 2), dtype=object)
    return SpotSet(
        images,
        torch.rand(n, genes, generator=g),
        sample,
        np.array([f"s{i}" for i in range(n)]),
        [f"G{i}" for i in range(genes)],
        labels,
        [f"T{i}" for i in range(types)],
    )


def small(**kw) -> CUCAConfig:
    return CUCAConfig(
        **{
            "encoder": ENCODER,
            "preset": "",
            "finetune": "full",
            "hidden_dim": 16,
            "proj_dim": 16,
            "molecule_dims": (32, 32),
        }
        | kw
    )


def test_projection_head_is_two_dropout_layers_then_bn_relu_to_the_embedding():
    head = MorphologyProjection(40, 16, 8, 0.25)
    kinds = [type(m).__name__ for m in head.net]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Dropout"] * 2 + ["Linear", "BatchNorm1d", "ReLU"]
    assert (head.eval()(torch.randn(5, 40)) >= 0).all()  # the morphology embedding is non-negative


def test_cuca_embedding_is_cls_and_mean_patch_tokens_and_loss_is_weighted_rmse():
    torch.manual_seed(0)
    model = CUCA(4, 10, small()).eval()
    assert model.encoder.dim == 2 * 32
    x, genes, ab = torch.randn(3, 3, 64, 64), torch.rand(3, 10), torch.rand(3, 4)
    out = model(x, genes, ab)
    assert out["prediction"].shape == (3, 4)
    expected = 0.3 * out["main"] + 0.6 * out["reconstruction"] + 0.1 * out["alignment"]
    assert torch.isclose(out["loss"], expected)
    assert torch.isclose(out["main"], torch.sqrt(((out["prediction"] - ab) ** 2).mean()))
    assert torch.allclose(model.predict(x), out["prediction"])  # inference uses the image only


def test_cuca_without_molecule_branch_keeps_cucas_head_and_loss_scale():
    model = CUCA(4, 10, small(w_rec=0.0, w_align=0.0))
    assert not hasattr(model, "molecule") and not hasattr(model, "decoder")
    out = model(torch.randn(2, 3, 64, 64), torch.rand(2, 10), torch.rand(2, 4))
    assert set(out) == {"loss", "main", "prediction"} and torch.isclose(out["loss"], 0.3 * out["main"])


def test_image_only_ablation_is_the_released_fmmlp():
    """The released image-only ablation (FMMLP): Linear-ReLU-Dropout twice then Linear (no batch
    norm, no final activation), a linear head, loss = the abundance RMSE at weight 1."""
    from stpath.models import registry

    torch.manual_seed(0)
    model = registry.get("cuca_image_only").build(settings(), 10, 4).eval()
    kinds = [type(m).__name__ for m in model.projector]
    assert kinds == ["Linear", "ReLU", "Dropout"] * 2 + ["Linear"] and not hasattr(model, "molecule")
    x, ab = torch.randn(3, 3, 64, 64), torch.rand(3, 4)
    out = model(x, torch.rand(3, 10), ab)
    assert torch.isclose(out["loss"], torch.sqrt(((out["prediction"] - ab) ** 2).mean())) and out["loss"] is out["main"]
    assert (model.projector(model.encoder(x)) < 0).any()  # no final ReLU: the embedding can be negative
    assert torch.allclose(model.predict(x), out["prediction"])


def test_lora_trains_only_adapters_of_the_last_blocks_and_the_heads():
    model = CUCA(4, 10, small(finetune="lora", lora=LoraSettings(r=4, alpha=8, blocks=1)))
    trained = [n for n, p in model.encoder.named_parameters() if p.requires_grad]
    assert trained and all("lora_" in n and n.startswith("net.blocks.2.") for n in trained)
    assert {n.split(".")[4] for n in trained} == {"qkv", "proj", "fc1", "fc2"}
    assert all(p.requires_grad for p in model.projector.parameters())
    assert model.prefix_frozen


def test_virchow2_preset_builds_the_published_architecture():
    kwargs = preset_kwargs("virchow2")
    import timm

    with torch.device("meta"):  # shapes only, no 632 M parameters in memory
        net = timm.models.create_model(kwargs.pop("name"), pretrained=False, num_classes=0, global_pool="", **kwargs)
    assert (net.num_features, len(net.blocks), net.num_prefix_tokens) == (1280, 32, 5)
    mlp = net.blocks[0].mlp  # SwiGLU packed into one fc1: 2 x 3416 hidden units, SiLU gate
    assert (mlp.fc1.out_features, mlp.fc2.in_features, type(mlp.act).__name__) == (6832, 3416, "SiLU")


def test_frozen_prefix_tokens_give_the_same_output_as_images():
    torch.manual_seed(0)
    model = CUCA(4, 10, small(finetune="lora", lora=LoraSettings(r=4, alpha=8, blocks=1))).eval()
    images = torch.randint(0, 256, (5, 64, 64, 3), dtype=torch.uint8)
    tokens = frozen_prefix_output(model, images, torch.device("cpu"))
    assert tokens.shape == (5, 1 + 16, 32)
    assert torch.allclose(model.predict(tokens), model.predict(to_model_input(images)), atol=1e-5)
    model.train()
    assert not model.encoder.net.blocks[0].training and model.encoder.net.blocks[2].training


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_cuca_training_selects_on_validation_pearson_and_learns(finetune, tmp_path):
    data = labelled_set()
    cfg = settings(finetune, epochs=6)
    history = am.fit("cuca", cfg, data, torch.device("cpu"), tmp_path)
    assert {"val_pearson", "train_main", "train_reconstruction", "train_alignment"} <= set(history.columns)
    lrs = history["lr"].to_numpy()
    assert np.isclose(lrs[0], 0.002 / 10) and lrs.argmax() == 1  # one-cycle: warm up over 20% of epochs
    model = am.load("cuca", cfg, 4, 10, tmp_path / "best.pt", torch.device("cpu"))
    pred = am.predict(model, data.images, torch.device("cpu"))
    assert pred.shape == (48, 4) and np.isfinite(pred).all()


def test_two_seeded_cuca_runs_give_the_same_history(tmp_path):
    data = labelled_set()
    a = am.fit("cuca", CFG, data, torch.device("cpu"), tmp_path / "a")
    b = am.fit("cuca", CFG, data, torch.device("cpu"), tmp_path / "b")
    cols = [c for c in a.columns if c not in TIMING_COLUMNS]
    pd.testing.assert_frame_equal(a[cols], b[cols])


def test_ridge_probe_recovers_a_linear_map_and_picks_the_penalty_on_validation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)) * [1, 10, 0.1, 1, 1, 1] + 5
    w = rng.normal(size=(3, 6))
    y = x @ w.T + 2 + rng.normal(scale=0.01, size=(200, 3))
    weight, bias, history = fit_probe(x, y, np.arange(150), np.arange(150, 200), [1e-3, 1e4], 0)
    assert history["val_pearson"].iloc[0] > history["val_pearson"].iloc[1]
    assert np.allclose(x @ weight.T + bias, y, atol=0.1)  # standardisation folded into the map


def test_ridge_probe_fits_its_head_only(tmp_path):
    data = labelled_set()
    history = am.fit("ridge_probe", CFG, data, torch.device("cpu"), tmp_path)
    assert list(history.columns) == ["alpha", "val_pearson"]
    model = am.load("ridge_probe", CFG, 4, 10, tmp_path / "best.pt", torch.device("cpu"))
    assert am.predict(model, data.images, torch.device("cpu")).shape == (48, 4)


def test_linear_probe_is_trained_like_cuca_on_its_head_alone(tmp_path):
    """The released LinearProbing: a Linear on the frozen features, trained by the loop with CUCA's
    optimiser, schedule and selection, on the main RMSE."""
    data = labelled_set()
    torch.manual_seed(CFG.train.seed)  # as fit seeds before it builds
    start = am.build("linear_probe", 4, 10, CFG).state_dict()
    history = am.fit("linear_probe", CFG, data, torch.device("cpu"), tmp_path)
    assert len(history) == CFG.train.epochs and "val_pearson" in history and "train_reconstruction" not in history
    trained = torch.load(tmp_path / "best.pt", weights_only=True)
    changed = {k for k in start if not torch.equal(start[k], trained[k])}
    assert changed == {"head.weight", "head.bias"}  # the encoder stays as built
    assert (CFG.train.optimizer, CFG.train.schedule, CFG.train.select) == ("adam", "onecycle", "pearson")


def test_rmse_and_pearson_columns_on_tensors():
    assert torch.isclose(rmse(torch.zeros(2, 2), torch.full((2, 2), 3.0)), torch.tensor(3.0))
    a = torch.tensor([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    assert torch.allclose(
        pearson_columns(a, torch.tensor([[2.0, 1.0], [4.0, 2.0], [6.0, 3.0]])), torch.tensor([1.0, 0.0])
    )


def test_metrics_per_type_pooled_and_per_slide():
    from stpath.celltypes.metrics import per_type, score_fold

    rng = np.random.default_rng(0)
    true = rng.random((30, 3))
    pred = true.copy()
    pred[:, 1] = 1 - pred[:, 1]  # anti-correlated type
    pred[:, 2] = rng.random(30)
    m = per_type(pred, true)
    assert np.isclose(m["pearson"][0], 1) and np.isclose(m["pearson"][1], -1) and np.isclose(m["spearman"][1], -1)
    assert np.isclose(m["jsd"][0], 0, atol=1e-6) and m["jsd"][2] > 0
    index = [f"s{i}" for i in range(30)]
    frame = lambda x: pd.DataFrame(x, index=index, columns=["A", "B", "C"])  # noqa: E731
    sample_of = pd.Series(["X"] * 15 + ["Y"] * 15, index=index)
    summary, table = score_fold(frame(pred), frame(true), sample_of, "cuca", "labels", 0)
    assert set(summary.protocol) == {"pooled", "per_slide"} and set(summary.test_sample) == {"all", "X", "Y"}
    pooled = summary[(summary.protocol == "pooled")].set_index("metric").value
    assert np.isclose(pooled["pearson_mean"], m["pearson"].mean())
    assert len(table) == 3 * 3  # pooled + 2 slides, 3 types each


def test_released_metric_details_against_hand_computed_values():
    """As CUCA's evaluation computes them: JSD of two disjoint distributions is ln 2 as the squared
    (pooled) figure and sqrt(ln 2) as the distance (per slide); a cell type constant over the spots
    scored has NaN correlations and is left out of the mean over types."""
    from stpath.celltypes.metrics import per_type, score_fold

    true = np.array([[1.0, 2.0, 3.0], [0.0, 2.0, 1.0], [0.0, 2.0, 2.0], [0.0, 2.0, 0.0]])
    pred = np.array([[0.0, 1.0, 3.0], [1.0, 3.0, 1.0], [0.0, 2.0, 2.0], [0.0, 4.0, 0.0]])
    m = per_type(pred, true)
    assert np.isclose(m["jsd_squared"][0], np.log(2), atol=1e-6) and np.isclose(
        m["jsd"][0], np.sqrt(np.log(2)), atol=1e-6
    )
    assert np.isclose(m["pearson"][0], -1 / 3) and np.isclose(m["pearson"][2], 1)  # hand-computed
    assert np.isnan(m["pearson"][1]) and np.isnan(m["spearman"][1])  # type B is constant in the reference
    index = [f"s{i}" for i in range(4)]
    frame = lambda x: pd.DataFrame(x, index=index, columns=["A", "B", "C"])  # noqa: E731
    summary, _ = score_fold(frame(pred), frame(true), pd.Series("X", index=index), "cuca", "labels", 0)
    pooled = summary[summary.protocol == "pooled"].set_index("metric").value
    assert np.isclose(pooled["pearson_mean"], (-1 / 3 + 1) / 2)  # B skipped, not scored 0
    assert np.isclose(pooled["jsd_squared_mean"], m["jsd_squared"].mean())


def test_pearson_on_raw_predictions_spearman_and_jsd_on_clipped_as_released():
    """The released evaluation: PCC on the raw prediction, Spearman and JSD after clipping at 0."""
    from stpath.celltypes.metrics import per_type

    true = np.array([[0.0], [1.0], [2.0], [3.0]])
    pred = np.array([[-3.0], [1.0], [2.0], [3.0]])  # clipped: [0, 1, 2, 3], a perfect prediction
    m = per_type(pred, true)
    x, y = pred[:, 0] - pred.mean(), true[:, 0] - true.mean()  # pred mean 0.75, true mean 1.5
    assert np.isclose(m["pearson"][0], (x * y).sum() / np.sqrt((x**2).sum() * (y**2).sum()))
    assert np.isclose(m["pearson"][0], 9.5 / np.sqrt(20.75 * 5.0))  # 0.933, where the clipped values give 1
    assert np.isclose(m["spearman"][0], 1.0) and np.isclose(m["jsd"][0], 0.0, atol=1e-4)
    # Spearman on the clipped view ties the two negative spots at 0
    m = per_type(np.array([[-2.0], [-1.0], [1.0], [2.0]]), np.array([[1.0], [0.0], [2.0], [3.0]]))
    assert np.isclose(m["spearman"][0], np.corrcoef([1.5, 1.5, 3, 4], [2, 1, 3, 4])[0, 1])


def test_colocalisation_agrees_with_itself_and_tells_structure_from_noise():
    from stpath.celltypes.colocalisation import agreement, enrichment

    xy = np.stack(np.meshgrid(np.arange(15), np.arange(10)), -1).reshape(-1, 2).astype(float)
    rng = np.random.default_rng(0)
    ab = pd.DataFrame(rng.random((150, 3)), columns=["A", "B", "C"])
    ab.loc[xy[:, 0] < 5, "A"] += 2  # A on the left, B on the right: each co-localises with itself
    ab.loc[xy[:, 0] > 9, "B"] += 2
    z = enrichment(ab, xy, n_perms=100)
    assert z.loc["A", "A"] > 2 and z.loc["A", "B"] < 0
    assert agreement(z, z) == {"pearson": 1.0, "spearman": 1.0, "cosine": 1.0}
    shuffled = enrichment(ab.sample(frac=1, random_state=1).set_axis(ab.index), xy, n_perms=100)
    assert agreement(shuffled, z)["pearson"] < 0.9
    one_type = enrichment(ab.assign(A=ab.A + 10), xy)
    assert all(np.isnan(v) for v in agreement(one_type, z).values())


def test_colocalisation_agreement_over_pairs_of_different_types_as_released():
    """The released analysis compares the R of pairs i < j only: a prediction that gets every
    type's self-association right but the pairs backwards agrees perfectly with the diagonal in
    (r 0.97 here) and not at all without it."""
    from stpath.celltypes.colocalisation import agreement

    types = list("ABCD")
    labels = pd.DataFrame(np.diag([10.0, 20.0, 30.0, 40.0]), index=types, columns=types)
    predicted = labels.copy()
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    label_pairs, predicted_pairs = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]
    for (i, j), a, b in zip(pairs, label_pairs, predicted_pairs):
        labels.iloc[i, j] = labels.iloc[j, i] = a
        predicted.iloc[i, j] = predicted.iloc[j, i] = b
    out = agreement(predicted, labels)
    assert np.isclose(out["pearson"], -1.0) and np.isclose(out["spearman"], -1.0)
    cosine = np.dot(label_pairs, predicted_pairs) / np.dot(label_pairs, label_pairs)  # 56 / 91: same norms
    assert np.isclose(out["cosine"], (cosine + 1) / 2)
    with_diagonal = np.corrcoef(predicted.to_numpy()[np.triu_indices(4)], labels.to_numpy()[np.triu_indices(4)])[0, 1]
    assert with_diagonal > 0.97  # what the agreement was with the diagonal in


def test_bivariate_moran_with_spatialdm_weights_against_hand_computed_values():
    from stpath.celltypes.colocalisation import bivariate_moran, rbf_weights

    xy = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    w = rbf_weights(xy, length=1.0, cutoff=0.2, n_neighbors=2).toarray()
    e = np.exp(-0.5)  # spots 0 and 1, 1 apart; spot 2 is 2 from spot 1: exp(-2) = 0.135 < cutoff
    np.testing.assert_allclose(w, [[1, e, 0], [e, 1, 0], [0, 0, 1]], rtol=1e-12)
    ab = pd.DataFrame({"A": [1.0, 2.0, 6.0], "B": [3.0, 1.0, 2.0], "C": [1.0, 1.0, 1.0]})
    r = bivariate_moran(ab, rbf_weights(xy, length=1.0, n_neighbors=2))
    z = (ab - ab.mean()) / ab.std(ddof=0)
    expected = (z.A @ w @ z.B) / w.sum()
    assert np.isclose(r.loc["A", "B"], expected) and np.isclose(r.loc["B", "A"], expected)
    assert np.isclose(r.loc["A", "A"], (z.A @ w @ z.A) / w.sum()) and r.loc["A", "A"] > 0
    assert r["C"].isna().all()  # a constant type has no R


def test_labels_are_aligned_by_barcode_and_a_missing_estimate_names_the_file(tmp_path):
    import anndata as ad

    from stpath.celltypes.labels import attach_labels
    from stpath.errors import InputError

    data = labelled_set(n=6)
    data.labels, data.label_names = None, []
    data.sample[:] = "A"
    table = pd.DataFrame({"T0": [5.0, 4, 3, 2, 1], "T1": [0.0, 1, 2, 3, 4]}, index=["s4", "s3", "s2", "s1", "s0"])
    a = ad.AnnData(obs=pd.DataFrame(index=table.index))
    a.obsm["abundance_q05"] = table
    a.write_h5ad(tmp_path / "A.h5ad")
    out = attach_labels(data, {"A": tmp_path / "A.h5ad"}, LabelSettings("q05", "abundance"))
    assert list(out.barcode) == ["s0", "s1", "s2", "s3", "s4"]  # s5 has no label: skipped
    assert out.labels[:, 0].tolist() == [1, 2, 3, 4, 5] and out.label_names == ["T0", "T1"]
    assert torch.equal(out.images, data.images[:5])
    with pytest.raises(InputError, match="abundance_mean") as err:
        attach_labels(data, {"A": tmp_path / "A.h5ad"}, LabelSettings("mean", "abundance"))
    assert "A.h5ad" in str(err.value)


def test_whole_slide_inference_covers_every_tile_in_chunks_and_round_trips(tmp_path):
    import h5py

    from stpath.celltypes.wholeslide import CellTypePredictor, predict_tiles
    from stpath.predictions import read_tile_prediction, write_tile_prediction

    n = 7
    rng = np.random.default_rng(0)
    with h5py.File(tmp_path / "tiles.h5", "w") as f:
        f["img"] = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        f["coords"] = np.stack([np.arange(n) * 64, np.zeros(n, int)], 1)
        f.attrs.update(window_level_px=32, level_downsample=2.0, px=32, um_per_px=1.0)  # resized to 64 px at 0.5
    torch.manual_seed(0)
    cuca = CUCA(4, 10, small()).eval()

    class Shifted(torch.nn.Module):  # an untrained head sits below 0: shift it so clipping leaves values to compare
        def predict(self, x):
            return cuca.predict(x) + 0.2

    model = Shifted()
    predictor = CellTypePredictor("cuca", model, list("ABCD"), [f"g{i}" for i in range(10)])
    out = predict_tiles(
        predictor, tmp_path / "tiles.h5", torch.device("cpu"), ImageScale(0.5, 64), sample="S", split="fold1", chunk=3
    )
    assert out.predicted.shape == (n, 4) and list(out.predicted.columns) == list("ABCD")
    assert np.allclose(out.centres[:, 0], np.arange(n) * 64 + 32) and out.side_level0 == 64  # tile centres, level 0
    with h5py.File(tmp_path / "tiles.h5") as f:
        x = torch.nn.functional.interpolate(
            to_model_input(torch.from_numpy(f["img"][:])), size=(64, 64), mode="bilinear", antialias=True
        )
    raw = model.predict(x).detach().numpy()
    assert (raw < 0).any() and (raw > 0).any()
    assert np.allclose(out.predicted.to_numpy(), np.maximum(raw, 0), atol=1e-5)  # abundances are saved >= 0
    assert out.details["clipped_below_zero"] == int((raw < 0).sum()) and np.isclose(
        out.details["min_before_clipping"], raw.min(), atol=1e-5
    )
    write_tile_prediction(out, tmp_path / "out.h5ad")
    back = read_tile_prediction(tmp_path / "out.h5ad")
    assert (back.model, back.split, back.sample, back.side_level0) == ("cuca", "fold1", "S", 64)
    pd.testing.assert_frame_equal(back.predicted, out.predicted)
    assert np.array_equal(back.centres, out.centres) and back.grid["level_downsample"] == 2.0


def test_prediction_files_are_evaluated_per_model_and_fold_against_labels_and_truth(tmp_path):
    from stpath.celltypes.colocalisation import compare_slides
    from stpath.celltypes.metrics import evaluate_cell_types
    from stpath.predictions import read_spot_prediction, write_spot_prediction

    rng = np.random.default_rng(0)
    xy = np.stack(np.meshgrid(np.arange(6), np.arange(5)), -1).reshape(-1, 2).astype(float)
    index = [f"b{i}" for i in range(30)]
    files = []
    for model in ("cuca", "linear_probe"):
        for fold, sample in ((0, "S1"), (1, "S2")):
            label = pd.DataFrame(rng.random((30, 3)).astype(np.float32), index=index, columns=list("ABC"))
            pred = label + (0 if model == "cuca" else rng.random((30, 3)).astype(np.float32))
            path = tmp_path / f"{model}_{sample}.h5ad"
            write_spot_prediction(
                SpotPrediction(
                    model, fold, sample, pred, label, "cell2location_q05", xy, {"labels": {"estimate": "q05"}}
                ),
                path,
            )
            files.append(read_spot_prediction(path))
    assert files[0].details == {"labels": {"estimate": "q05"}} and np.array_equal(files[0].spatial, xy)
    truth = pd.concat([f.target.set_axis([f"{f.sample}:{b}" for b in f.target.index]) for f in files[:2]])
    summary, per_type = evaluate_cell_types(files, truth)
    pooled = (
        summary[(summary.protocol == "pooled") & (summary.metric == "pearson_mean")]
        .set_index(["model", "target", "fold"])
        .value
    )
    assert np.allclose(pooled.loc["cuca"], 1.0) and (pooled.loc["linear_probe"] < 0.99).all()
    assert set(summary.target) == {"cell2location_q05", "truth"} and len(per_type) == 2 * 2 * 2 * 2 * 3
    coloc, matrices = compare_slides(files, {"S1": 100.0, "S2": 100.0})  # 100 um between grid points
    assert list(coloc.model) == ["cuca"] * 12 + ["linear_probe"] * 12
    assert list(coloc.metric[:6]) == [
        "colocalisation_r",
        "colocalisation_spearman",
        "colocalisation_cosine",
        "colocalisation_moran_r",
        "colocalisation_moran_spearman",
        "colocalisation_moran_cosine",
    ]
    assert np.allclose(coloc.value.iloc[:12], 1.0)  # identical predictions: identical statistics
    assert set(matrices.source) == {"labels", "cuca", "linear_probe"} and set(matrices.statistic) == {
        "nhood_enrichment_z",
        "moran_r",
    }
    assert not matrices.duplicated(["sample", "source", "statistic", "type_a", "type_b"]).any()


def test_the_branch_summary_figure_draws_the_released_averages(tmp_path):
    """metrics/cell_types/summary.png: per model and reference, the per-slide means averaged over
    each fold's slides, then folds (the headline's numbers), for Pearson, Spearman and JSD."""
    from stpath.celltypes.figures import summary_bars
    from stpath.metrics import COLUMNS, headline

    rows = []
    for model, shift in (("cuca", 0.2), ("linear_probe", 0.0)):
        for target in ("labels", "truth"):
            # fold 1 holds out two slides, fold 2 one: the fold mean weighs each fold once
            for fold, sample, value in ((1, "A", 0.1), (1, "B", 0.5), (2, "C", 0.6)):
                for metric in ("pearson_mean", "spearman_mean", "jsd_mean"):
                    rows.append((model, target, "cell_types", "per_slide", fold, sample, metric, value + shift))
                rows.append((model, target, "cell_types", "pooled", fold, "all", "pearson_mean", 0.9))
    summary = pd.DataFrame(rows, columns=COLUMNS).assign(patients="cross-patient")
    drawn = summary_bars(summary, tmp_path / "summary.png")
    assert (tmp_path / "summary.png").stat().st_size > 10_000
    assert drawn["pearson_mean"].loc["truth", "cuca"] == pytest.approx((0.5 + 0.8) / 2)  # not (0.3+0.7+0.8)/3
    expected = headline(summary).set_index(["metric", "target", "model"])["value"]
    for metric, table in drawn.items():
        for target, row in table.iterrows():
            for model, value in row.items():
                assert value == pytest.approx(expected[(metric, target, model)])


def test_precise_batch_norm_evaluates_with_the_statistics_of_every_training_spot(tmp_path):
    """``train.bn_stats: precise``: after each epoch the projector's BatchNorm statistics are those
    of all training spots (the running averages of the last batches are replaced); the selected
    weights carry them. Without dropout the first BatchNorm's mean is the mean of its input's batch
    means over the training spots, to float precision."""
    from dataclasses import replace

    from stpath.training.data import split_validation
    from stpath.training.loop import precise_batch_norm, to_model_input

    data = labelled_set()
    cfg = replace(CFG, cuca=replace(CFG.cuca, dropout=0.0))
    model = CUCA(4, 10, cfg.cuca)
    train_idx, _ = split_validation(data.sample, 0.2, 3407)
    idx = torch.as_tensor(train_idx)
    bn = model.projector.net[1]
    assert isinstance(bn, torch.nn.BatchNorm1d)
    precise_batch_norm(model, data.images, idx, 8, torch.device("cpu"))
    with torch.no_grad():
        first = model.projector.net[0](model.encoder(to_model_input(data.images[idx])))
    # each batch of 8 weighs the same (BatchNorm's cumulative average), the short last one too
    batch_means = torch.stack([b.mean(0) for b in first.split(8)])
    assert torch.allclose(bn.running_mean, batch_means.mean(0), atol=1e-5)
    assert model.training  # left in the mode it was in

    precise = replace(cfg, train=replace(cfg.train, bn_stats="precise"))
    am.fit("cuca", precise, data, torch.device("cpu"), tmp_path)
    state = torch.load(tmp_path / "best.pt", map_location="cpu")
    state = state.get("model", state)
    assert int(state["projector.net.1.num_batches_tracked"]) == len(range(0, len(train_idx), 8))
