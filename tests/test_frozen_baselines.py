"""HEST-Benchmark's frozen-encoder baselines: the probe is HEST's pipeline folded into one layer,
the retrieval's keys are the training spots' frozen embeddings, and checkpoints predict alone."""

import numpy as np
import pytest
import torch
from test_training import spot_set

from stpath.expression import models
from stpath.expression.hest import fit_hest_probe, hest_pipeline
from stpath.expression.settings import ExpressionSettings
from stpath.models.frozen import FrozenEncoderConfig
from stpath.models.retrieval import retrieve
from stpath.training.loop import TrainSettings

from conftest import tiny_encoder

CPU = torch.device("cpu")
FROZEN = FrozenEncoderConfig(encoder=tiny_encoder(depth=1), pca_dim=8)
SETTINGS = ExpressionSettings(retrieval_k=3, frozen=FROZEN, train=TrainSettings(epochs=1, batch_size=8))


def test_hest_probe_is_hest_pipeline_as_one_linear_map():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 30))
    y = x[:, :4] @ rng.normal(size=(4, 6)) + 0.1 * rng.normal(size=(200, 6))
    weight, bias = fit_hest_probe(x, y, pca_dim=12)
    pipeline = hest_pipeline(30, 200, 6, 12).fit(x, y)
    assert pipeline.named_steps["pca"].n_components_ == 12
    assert pipeline.named_steps["ridge"].alpha == pytest.approx(100 / (12 * 6))  # HEST's penalty
    held_out = rng.normal(size=(50, 30))
    assert np.allclose(held_out @ weight.T + bias, pipeline.predict(held_out), atol=1e-4)


@pytest.mark.parametrize("name", ["hest_probe", "frozen_retrieval"])
def test_frozen_models_fit_without_training_the_encoder_and_reload(name, tmp_path):
    data = spot_set(n=40, genes=12, size=64)
    history = models.fit(name, SETTINGS, data, CPU, tmp_path)
    assert len(history) == 1 and history.spots[0] == 40
    model = models.load(name, SETTINGS, 12, tmp_path / "best.pt", CPU)
    again = models.load(name, SETTINGS, 12, tmp_path / "best.pt", CPU)
    fresh = models.build(name, 12, SETTINGS)  # same seed: the frozen encoder is the one it was built with
    assert not any(p.requires_grad for p in model.encoder.parameters())
    predicted = models.predict(name, model, None, data.images[:5], 3, CPU)
    assert np.allclose(predicted, models.predict(name, again, None, data.images[:5], 3, CPU))
    if name == "frozen_retrieval":  # keys = the training spots' embeddings, in the checkpoint
        embeddings = models.embed_images(model.embed_images, data.images, CPU)
        assert torch.allclose(model.keys, embeddings) and torch.equal(model.key_expression, data.expression)
        assert np.allclose(predicted, retrieve(embeddings[:5], embeddings, data.expression, 3).numpy())
    else:
        assert not torch.equal(model.head.weight, fresh.head.weight)


def test_training_curves_name_the_frozen_models_instead_of_drawing_them(tmp_path):
    import pandas as pd

    from stpath.expression.figures import training_curves

    trained = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_loss": [1.0, 0.7]})
    fitted = pd.DataFrame(
        {"epoch": [1], "spots": [40], "compute_seconds": [1.0], "wall_seconds": [1.0]}
    )  # what fit writes
    training_curves({("cmrcnet", 0): trained, ("hest_probe", 0): fitted}, tmp_path / "a.png")
    training_curves(
        {("hest_probe", 0): fitted, ("frozen_retrieval", 0): fitted}, tmp_path / "b.png"
    )  # no trained model
    assert (tmp_path / "a.png").stat().st_size > 10_000 and (tmp_path / "b.png").stat().st_size > 5_000
