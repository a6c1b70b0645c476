"""Training path of the image models: in-memory spots, device-side augmentation, the seeded
validation split, the resumable loop, retrieval and the expression metrics."""

import numpy as np
import pytest
import torch

from stpath.expression import metrics as em
from stpath.expression.models import build, predict
from stpath.expression.retrieval import retrieve
from stpath.expression.settings import ExpressionSettings
from stpath.metrics import COLUMNS, pearson_columns
from stpath.models.cmrcnet import CMRCNetConfig
from stpath.models.encoders import EncoderConfig
from stpath.training.augment import IMAGENET_MEAN, IMAGENET_STD, to_model_input
from stpath.training.data import SpotSet, split_validation
from stpath.training.loop import TrainConfig, seed_everything, train

ENCODER = EncoderConfig(embed_dim=32, depth=1, num_heads=2, img_size=64, patch_size=16)
TRAIN = {"epochs": 2, "batch_size": 8, "seed": 1}
CFG = ExpressionSettings(cmrcnet=CMRCNetConfig(encoder=ENCODER, proj_dim=16, gene_tokens=2, first_cross_heads=2, fusion_heads=2), train=TrainConfig(**TRAIN))


def spot_set(n=40, genes=12, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, size, size, 3), generator=g, dtype=torch.uint8)
    expression = torch.rand(n, genes, generator=g)
    sample = np.array(["A"] * (n // 2) + ["B"] * (n - n // 2), dtype=object)
    return SpotSet(images, expression, sample, np.array([f"s{i}" for i in range(n)]), [f"G{i}" for i in range(genes)])


def test_model_input_normalises_and_augments_per_sample():
    img = torch.zeros(1, 4, 4, 3, dtype=torch.uint8)
    img[0, 0, 0] = 255  # one bright top-left pixel
    x = to_model_input(img)
    assert x.shape == (1, 3, 4, 4)
    assert torch.isclose(x[0, 0, 0, 0], torch.tensor((1 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]))
    many = img.repeat(64, 1, 1, 1)
    out = to_model_input(many, torch.Generator().manual_seed(0), augment=True)
    corners = {tuple((o[0] > 0).nonzero()[0].tolist()) for o in out}
    assert corners == {(0, 0), (0, 3), (3, 0), (3, 3)}  # flips/rotations move it to every corner
    assert torch.allclose(out.sum(dim=(1, 2, 3)), x.sum())  # pixels are moved, never changed


def test_validation_split_is_seeded_per_slide_and_disjoint():
    sample = np.array(["A"] * 50 + ["B"] * 30, dtype=object)
    tr, va = split_validation(sample, 0.2, 3)
    assert set(tr).isdisjoint(va) and len(tr) + len(va) == 80
    assert (sample[va] == "A").sum() == 10 and (sample[va] == "B").sum() == 6
    assert np.array_equal(va, split_validation(sample, 0.2, 3)[1])


def test_retrieval_returns_the_mean_of_the_nearest_keys():
    keys = torch.eye(4)
    expr = torch.arange(8.0).view(4, 2)
    query = torch.tensor([[0.0, 0.9, 0.1, 0.0]])
    assert torch.allclose(retrieve(query, keys, expr, 1), expr[1:2])
    assert torch.allclose(retrieve(query, keys, expr, 2), expr[1:3].mean(0, keepdim=True))


@pytest.mark.parametrize("name", ["cmrcnet", "bleep", "direct"])
def test_training_runs_resumes_and_predicts(name, tmp_path):
    data = spot_set()
    seed_everything(1)
    model = build(name, 12, CFG)
    once = train(model, data, TrainConfig(**{**TRAIN, "epochs": 1}), torch.device("cpu"), tmp_path)
    seed_everything(1)
    resumed = train(build(name, 12, CFG), data, CFG.train, torch.device("cpu"), tmp_path)
    assert len(once) == 1 and len(resumed) == 2
    assert resumed.iloc[0].equals(once.iloc[0])  # the first epoch comes from the checkpoint
    assert (tmp_path / "best.pt").exists() and resumed["val_loss"].notna().all()
    model = build(name, 12, CFG)
    model.load_state_dict(torch.load(tmp_path / "best.pt", weights_only=True))
    pred = predict(name, model.eval(), data.expression[:20], data.images[20:], 5, torch.device("cpu"))
    assert pred.shape == (20, 12) and np.isfinite(pred).all()


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    data = spot_set()
    seed_everything(1)
    train(build("direct", 12, CFG), data, CFG.train, torch.device("cpu"), tmp_path, fingerprint="a")
    seed_everything(1)
    again = train(build("direct", 12, CFG), data, CFG.train, torch.device("cpu"), tmp_path, fingerprint="b")
    assert len(again) == 2 and again.seconds.gt(0).all()  # both epochs trained anew, not returned from "a"
    seed_everything(1)
    same = train(build("direct", 12, CFG), data, CFG.train, torch.device("cpu"), tmp_path, fingerprint="b")
    assert same.equals(again)  # same settings: nothing left to train


def test_two_seeded_runs_give_the_same_history(tmp_path):
    data = spot_set()
    runs = []
    for i in range(2):
        seed_everything(1)
        runs.append(train(build("cmrcnet", 12, CFG), data, CFG.train, torch.device("cpu"), tmp_path / str(i)))
    cols = [c for c in runs[0].columns if c.startswith(("train_", "val_")) and c != "train_img_per_s"]
    assert np.allclose(runs[0][cols].to_numpy(), runs[1][cols].to_numpy())


def test_pearson_columns_matches_numpy_and_constant_genes_give_zero():
    rng = np.random.default_rng(0)
    pred, true = rng.normal(size=(30, 5)), rng.normal(size=(30, 5))
    true[:, 4] = 1.0
    r = pearson_columns(pred, true)
    assert np.allclose(r[:4], [np.corrcoef(pred[:, j], true[:, j])[0, 1] for j in range(4)]) and r[4] == 0


def test_slide_metrics_and_hest_protocol():
    rng = np.random.default_rng(0)
    true = rng.gamma(2.0, size=(100, 60)) * np.linspace(0.1, 3, 60)
    genes = [f"G{i}" for i in range(60)]
    rows = em.per_slide("m", 0, "S", true, true, genes, ["G1", "G2", "G3", "absent"], n=50)
    assert set(rows.gene_set) == {"heg50", "hvg50", "markers"}
    assert np.allclose(rows.value, 1.0)  # a perfect prediction
    assert list(em.heg_indices(true + np.arange(60) * 100, 3)) == [59, 58, 57]
    assert np.isnan(em.correlation_preservation(true[:, :2], true[:, :2]))
    noisy = true + rng.normal(0, 5, true.shape)
    assert em.per_slide("m", 0, "S", noisy, true, genes, [], n=50).value.max() < 0.9
    hest = em.hest("m", 0, [true[:50], true[50:]], [true[:50], true[50:]], true, n=50)
    assert hest.protocol.item() == "hest" and hest.value.item() == pytest.approx(1.0)
    assert list(hest.columns) == COLUMNS
