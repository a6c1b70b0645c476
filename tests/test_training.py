"""Training path of the image models: in-memory spots, device-side augmentation, the seeded
validation split, the resumable loop, retrieval and the expression metrics."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
import torch

from stpath.expression import metrics as em
from stpath.expression.models import build, predict
from stpath.expression.settings import ExpressionSettings
from stpath.metrics import COLUMNS, pearson_columns
from stpath.models.cmrcnet import CMRCNetConfig
from stpath.models.retrieval import retrieve
from stpath.training import checkpoint
from stpath.training.augment import IMAGENET_MEAN, IMAGENET_STD, to_model_input
from stpath.training.data import SpotSet, split_validation
from stpath.training.loop import TrainSettings, seed_everything, train

from conftest import tiny_encoder

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENCODER = tiny_encoder(depth=1)
TRAIN = {"epochs": 2, "batch_size": 8, "seed": 1}
CFG = ExpressionSettings(
    cmrcnet=CMRCNetConfig(encoder=ENCODER, proj_dim=16, gene_tokens=2, first_cross_heads=2, fusion_heads=2),
    train=TrainSettings(**TRAIN),
)


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
def test_training_runs_and_predicts(name, tmp_path):
    data = spot_set()
    seed_everything(1)
    history = train(build(name, 12, CFG), data, CFG.train, torch.device("cpu"), tmp_path)
    assert len(history) == 2 and history["val_loss"].notna().all()
    model = build(name, 12, CFG)
    model.load_state_dict(torch.load(tmp_path / "best.pt", weights_only=True))
    pred = predict(name, model.eval(), data.expression[:20], data.images[20:], 5, torch.device("cpu"))
    assert pred.shape == (20, 12) and np.isfinite(pred).all()


def test_selection_on_a_validation_slide_scores_that_slide_alone(tmp_path, caplog):
    """With validation slides, the validation loss is the loss on their spots: here slide B's
    expression is shifted far from A's, so its loss dwarfs the in-slide split's."""
    data = spot_set()
    data.expression[data.sample == "B"] += 5.0
    seed_everything(1)
    in_slide = train(build("direct", 12, CFG), data, CFG.train, torch.device("cpu"), tmp_path / "a")
    seed_everything(1)
    with caplog.at_level("INFO"):
        on_b = train(build("direct", 12, CFG), data, CFG.train, torch.device("cpu"), tmp_path / "b", val_samples=("B",))
    assert "20 training and 20 validation spots (the validation patients' slides ['B'])" in caplog.text
    assert on_b["val_loss"].iloc[-1] > 2 * in_slide["val_loss"].iloc[-1]


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    data = spot_set()
    seed_everything(1)
    train(build("direct", 12, CFG), data, CFG.train, torch.device("cpu"), tmp_path, fingerprint="a")
    seed_everything(1)
    again = train(build("direct", 12, CFG), data, CFG.train, torch.device("cpu"), tmp_path, fingerprint="b")
    assert len(again) == 2 and again.compute_seconds.gt(0).all()  # both epochs trained anew, not returned from "a"
    seed_everything(1)
    same = train(build("direct", 12, CFG), data, CFG.train, torch.device("cpu"), tmp_path, fingerprint="b")
    # same settings: nothing left to train (the wall time of the last epoch is stored before its
    # resume point's write takes it further)
    assert same.drop(columns="wall_seconds").equals(again.drop(columns="wall_seconds"))


def test_resume_points_follow_the_policy_and_best_weights_are_the_best_epochs(tmp_path):
    data = spot_set()
    cfg = TrainSettings(**{**TRAIN, "epochs": 4})
    seed_everything(1)
    hourly = train(build("direct", 12, CFG), data, cfg, torch.device("cpu"), tmp_path / "hourly", checkpoint_minutes=60)
    assert hourly.resume_point.tolist() == [0, 0, 0, 1]  # only after the last epoch
    seed_everything(1)
    every = train(build("direct", 12, CFG), data, cfg, torch.device("cpu"), tmp_path / "every", checkpoint_minutes=0)
    assert every.resume_point.tolist() == [1, 1, 1, 1]
    assert (every.wall_seconds >= every.compute_seconds).all()
    metrics = [c for c in every.columns if c.startswith(("train_", "val_")) and c != "train_img_per_s"]
    assert hourly[metrics].equals(every[metrics])  # writing resume points changes nothing
    best_epoch = int(hourly.val_loss.idxmin())
    state = checkpoint.read_resume_point(tmp_path / "hourly", "")
    assert state["epoch"] == 4 and state["best"] == pytest.approx(-hourly.val_loss[best_epoch])
    best = torch.load(tmp_path / "hourly" / "best.pt", weights_only=True)
    assert all(torch.equal(best[k], v) for k, v in state["best_weights"].items())
    if best_epoch < 3:  # the best weights are not the last epoch's
        assert not all(torch.equal(best[k], v) for k, v in state["model"].items())


def test_resume_point_is_read_onto_the_cpu_whatever_device_trains(tmp_path, monkeypatch):
    """On a GPU, a resume point read with map_location=<the GPU> puts the saved CPU generator state
    on the GPU, and torch.set_rng_state refuses it ("RNG state must be a torch.ByteTensor").
    Without a GPU: "cpu:0" trains in its place, and what torch.load maps to it is put where a CUDA
    tensor would be for a CPU generator, on another device (meta) for the generator states."""
    data = spot_set()

    class Killed(Exception):
        pass

    def kill_after_first(workdir, state):
        write_resume_point(workdir, state)
        raise Killed

    write_resume_point = checkpoint.write_resume_point
    monkeypatch.setattr("stpath.training.loop.write_resume_point", kill_after_first)
    seed_everything(1)
    with pytest.raises(Killed):
        train(build("cmrcnet", 12, CFG), data, CFG.train, torch.device("cpu"), tmp_path, checkpoint_minutes=0)
    monkeypatch.undo()

    real_load = torch.load

    def load_as_on_a_gpu(f, map_location=None, **kwargs):
        state = real_load(f, map_location="cpu", **kwargs)
        if map_location is not None and str(map_location) != "cpu":  # mapped to the accelerator
            state = _map_generator_states(state, "meta")
        return state

    monkeypatch.setattr(torch, "load", load_as_on_a_gpu)
    seed_everything(1)
    resumed = train(build("cmrcnet", 12, CFG), data, CFG.train, torch.device("cpu", 0), tmp_path)
    assert len(resumed) == 2 and resumed.resume_point.tolist() == [1, 1]


def _map_generator_states(obj, device):
    if isinstance(obj, dict):
        return {k: _map_generator_states(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_map_generator_states(v, device) for v in obj]
    if torch.is_tensor(obj) and obj.dtype == torch.uint8:
        return obj.to(device)
    return obj


KILLABLE_RUN = """
import sys
import numpy as np, torch
sys.path[:0] = [{repo!r}, {repo!r} + "/tests"]  # the tests folder by path: torchstain's wheel installs a package named tests
from stpath import lifecycle
from stpath.expression.models import build
from stpath.training.data import SpotSet
from stpath.training.loop import TrainSettings, seed_everything, train
from test_training import CFG, spot_set
torch.set_num_threads(1)
lifecycle.log_training({log!r}, {workdir!r})  # as train_model.py
seed_everything(1)
history = train(build("cmrcnet", 12, CFG), spot_set(n=48), TrainSettings(epochs=8, batch_size=8, seed=1), torch.device("cpu"), __import__("pathlib").Path({workdir!r}), checkpoint_minutes=0)
history.to_csv({history!r}, sep="\t", index=False)
"""


def _training_process(tmp_path, name):
    paths = {
        "repo": str(REPO),
        "log": str(tmp_path / f"{name}.log"),
        "workdir": str(tmp_path / name),
        "history": str(tmp_path / f"{name}.tsv"),
    }
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(KILLABLE_RUN.format(**paths))], cwd=REPO), paths


@pytest.mark.workflow
def test_kill_9_during_training_resumes_and_ends_as_an_uninterrupted_run(tmp_path):
    whole, whole_paths = _training_process(tmp_path, "whole")
    assert whole.wait(timeout=600) == 0
    killed, paths = _training_process(tmp_path, "killed")
    deadline = time.time() + 600
    while "epoch 5/8" not in (open(paths["log"]).read() if os.path.exists(paths["log"]) else ""):
        assert killed.poll() is None and time.time() < deadline, "the training process ended before it could be killed"
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)  # during epoch 6 at the latest; epoch 4's resume point is on disk
    killed.wait()
    assert not os.path.exists(paths["history"])
    os.unlink(paths["log"])  # as Snakemake does before it reruns the job
    rerun, paths = _training_process(tmp_path, "killed")
    assert rerun.wait(timeout=600) == 0
    resumed_at = [line for line in open(paths["log"]) if "resumed from" in line]
    assert len(resumed_at) == 1 and int(resumed_at[0].split("at epoch")[1]) >= 4
    # the killed attempt's log is kept beside the job's, and the resumed attempt's after it
    attempts = open(paths["log"] + ".attempts").read()
    killed_part, _, resumed_part = attempts.partition("--- attempt resumed")
    assert killed_part.startswith("--- attempt started") and "epoch 5/8" in killed_part
    assert "resumed from" in resumed_part and "resumed from" not in killed_part
    a, b = pd.read_csv(whole_paths["history"], sep="\t"), pd.read_csv(paths["history"], sep="\t")
    metrics = [c for c in a.columns if c.startswith(("train_", "val_")) and c != "train_img_per_s"]
    assert a[metrics].equals(b[metrics])
    best_a = torch.load(tmp_path / "whole" / "best.pt", weights_only=True)
    best_b = torch.load(tmp_path / "killed" / "best.pt", weights_only=True)
    assert best_a.keys() == best_b.keys() and all(torch.equal(best_a[k], best_b[k]) for k in best_a)


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


def test_cuca_gene_input_is_counts_to_5e4_then_log1p_as_released(tmp_path):
    """CUCA's molecule branch reads Hist2Cell's normalisation (each spot's counts scaled to 5e4 over
    all genes, then log1p), from the raw counts the normalised file keeps, not the expression
    branch's median-library normalisation."""
    import anndata as ad
    import scipy.sparse as sp

    from stpath.genes.selection import normalise
    from stpath.training.data import _expression_of

    counts = sp.csr_matrix(np.array([[1.0, 3.0, 0.0], [2.0, 2.0, 4.0]], dtype=np.float32))
    files = normalise(
        ad.AnnData(counts, obs=pd.DataFrame(index=["s1", "s2"]), var=pd.DataFrame(index=["G1", "G2", "G3"]))
    )
    x = _expression_of(files, np.array(["s1", "s2"]), ["G2", "G3"], tmp_path / "e.h5ad", target_sum=5e4)
    assert np.allclose(x, np.log1p([[37500.0, 0.0], [12500.0, 25000.0]]))  # 3/4, 0/4; 2/8, 4/8 of 5e4
    median = _expression_of(files, np.array(["s1", "s2"]), ["G2", "G3"], tmp_path / "e.h5ad")
    assert np.allclose(median, np.log1p([[3.0 * 6 / 4, 0.0], [2.0 * 6 / 8, 4.0 * 6 / 8]]))  # median total 6


def test_a_model_job_takes_what_snakemake_hands_over():
    """``ModelJob.of`` reads a Snakemake script's object (named inputs and outputs, params with the
    branch's settings). The stages themselves run for real in the demo's workflow tests."""
    from types import SimpleNamespace

    from snakemake.iocontainers import Namedlist

    from stpath import lifecycle
    from stpath.training.job import ModelJob

    def named(**items):
        values = Namedlist()
        for name, value in items.items():
            start = len(values)
            values.extend(value if isinstance(value, list) else [value])
            values._set_name(name, start, len(values) if isinstance(value, list) else None)
        return values

    smk = SimpleNamespace(
        wildcards=SimpleNamespace(model="cuca"),
        input=named(patches=["p/A.h5", "p/B.h5"], expression=["e/A.h5ad", "e/B.h5ad"], checkpoints=["f1.pt", "f2.pt"]),
        output=named(predictions=["o/B.h5ad"]),
        params=named(
            samples=["A", "B"],  # the patches read
            held_out=["B"],  # the slides predicted (a split table trains on A and never tests it)
            folds={"sample": ["A", "B"], "fold": [1, 2]},
            fold_ids=[1, 2],
            settings={"k": 1},
        ),
        threads=1,
        config={"dataset": "d"},
    )
    job = ModelJob.of(smk)
    assert (
        job.settings == {"k": 1} and "settings" not in job.params and list(job.input["patches"]) == ["p/A.h5", "p/B.h5"]
    )
    folds, checkpoints, patches, expression = job.held_out()
    assert checkpoints == {1: "f1.pt", 2: "f2.pt"} and patches["B"] == "p/B.h5" and expression["A"] == "e/A.h5ad"
    assert folds["fold"].tolist() == [1, 2] and job.prediction_paths() == {"B": "o/B.h5ad"}
    with pytest.raises(ValueError, match="unknown lifecycle stage 'evaluate'"):
        lifecycle.run("evaluate", job)
