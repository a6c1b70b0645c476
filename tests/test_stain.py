"""Stain robustness: the device-side colour perturbations and the per-slide stain normalisation
change images as intended."""

import numpy as np
import pytest
import torch
from skimage.color import combine_stains, rgb2hed, rgb_from_hed

from stpath.crosspatient import cross_patient_table
from stpath.demo.synth import patient_stain
from stpath.errors import InputError
from stpath.training.augment import StainJitter, colour_jitter, hed_jitter, stain_jitter, to_model_input
from stpath.wsi.stain import StainMap, fit_stain, read_stain_fit, write_stain_fit

from conftest import REPO, shared


def he_image(seed=0, n=32) -> np.ndarray:
    """An H&E-like float RGB image in (0, 1): random haematoxylin and eosin concentrations
    recombined with scikit-image's stain matrix."""
    rng = np.random.default_rng(seed)
    hed = np.stack([rng.uniform(0.05, 0.4, (n, n)), rng.uniform(0.05, 0.3, (n, n)), np.zeros((n, n))], axis=-1)
    return combine_stains(hed, rgb_from_hed)


def as_batch(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.transpose(2, 0, 1)[None].astype(np.float32))


def as_image(batch: torch.Tensor) -> np.ndarray:
    return batch[0].numpy().transpose(1, 2, 0).astype(np.float64)


def test_hed_jitter_scales_the_haematoxylin_channel_only():
    rgb = he_image()
    out = as_image(hed_jitter(as_batch(rgb), torch.tensor([[1.3, 1.0, 1.0]]), torch.zeros(1, 3)))
    before, after = rgb2hed(rgb), rgb2hed(out)
    assert np.allclose(after[..., 0] / before[..., 0], 1.3, rtol=1e-3)  # haematoxylin x 1.3
    assert np.allclose(after[..., 1], before[..., 1], atol=1e-4)  # eosin unchanged
    assert (out.mean(axis=(0, 1)) < rgb.mean(axis=(0, 1))).all()  # more stain: darker


def test_hed_jitter_with_no_change_is_the_identity_and_a_shift_adds_optical_density():
    rgb = as_batch(he_image(1))
    assert torch.allclose(hed_jitter(rgb, torch.ones(1, 3), torch.zeros(1, 3)), rgb, atol=1e-5)
    shifted = as_image(hed_jitter(rgb, torch.ones(1, 3), torch.tensor([[0.0, 0.05, 0.0]])))
    gained = rgb2hed(shifted)[..., 1] - rgb2hed(as_image(rgb))[..., 1]
    assert np.allclose(gained, gained.mean(), atol=1e-4) and gained.mean() > 0  # the same eosin everywhere


def test_colour_jitter_is_torchvisions_brightness_contrast_and_saturation():
    tv = pytest.importorskip("torchvision.transforms.functional")
    rgb = as_batch(he_image(2))
    one = torch.ones(1)
    for factors, reference in (
        ((one * 1.2, one, one), tv.adjust_brightness(rgb, 1.2)),
        ((one, one * 0.7, one), tv.adjust_contrast(rgb, 0.7)),
        ((one, one, one * 0.0), tv.adjust_saturation(rgb, 0.0)),
    ):
        assert torch.allclose(colour_jitter(rgb, *factors), reference, atol=1e-5)


def test_stain_jitter_draws_per_image_from_the_generator_and_off_changes_nothing():
    images = torch.from_numpy((he_image(3) * 255).astype(np.uint8)).unsqueeze(0).repeat(8, 1, 1, 1)
    jitter = StainJitter(hed=0.05, brightness=0.1, contrast=0.1, saturation=0.1)
    a = to_model_input(images, torch.Generator().manual_seed(5), stain=jitter)
    b = to_model_input(images, torch.Generator().manual_seed(5), stain=jitter)
    assert torch.equal(a, b)  # seeded
    assert len({round(float(x.mean()), 5) for x in a}) == 8  # every image its own draw
    plain = to_model_input(images)
    assert torch.allclose(to_model_input(images, torch.Generator().manual_seed(5), stain=StainJitter()), plain)
    rgb = images.permute(0, 3, 1, 2).float() / 255
    assert torch.allclose(stain_jitter(rgb, StainJitter(), None), rgb)


# ---- per-slide stain normalisation ---------------------------------------------------------------


@pytest.fixture(scope="module")
def two_labs():
    """Tissue tiles of a real HER2ST section (C2's centre) as two labs stain them (the demo's
    per-patient stain: haematoxylin and eosin amounts and colours drawn per lab)."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    image = np.asarray(Image.open(shared("her2st", "images", "C2.jpg")))
    h, w = image.shape[0] // 2, image.shape[1] // 2
    tiles = (
        image[h - 1024 : h + 1024, w - 1024 : w + 1024]
        .reshape(8, 256, 8, 256, 3)
        .transpose(0, 2, 1, 3, 4)
        .reshape(64, 256, 256, 3)
    )
    tiles = tiles[tiles.mean(axis=(1, 2, 3)) < 200]  # tissue, not glass
    return patient_stain(tiles, 7, "lab A", strength=0.3, hue=0.1), patient_stain(
        tiles, 7, "lab B", strength=0.3, hue=0.1
    )


def angle(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def test_macenko_brings_two_slides_stain_vectors_together(two_labs):
    a, b = two_labs
    fit_a, fit_b = fit_stain(a, "macenko", "A"), fit_stain(b, "macenko", "B")
    mapped = fit_stain(StainMap(fit_b, fit_a)(b), "macenko", "B mapped")
    for stain in (0, 1):  # haematoxylin, eosin: measured 4.2 -> 0.2 and 12.8 -> 0.3 degrees
        before = angle(np.asarray(fit_a.stain_matrix)[:, stain], np.asarray(fit_b.stain_matrix)[:, stain])
        after = angle(np.asarray(fit_a.stain_matrix)[:, stain], np.asarray(mapped.stain_matrix)[:, stain])
        assert before > 3 and after < before / 5, (stain, before, after)
    assert not np.allclose(fit_b.max_concentrations, fit_a.max_concentrations, rtol=0.1)
    assert np.allclose(mapped.max_concentrations, fit_a.max_concentrations, rtol=0.05)
    assert (
        np.abs(StainMap(fit_b, fit_a)(b).astype(float) - a).mean() < np.abs(b.astype(float) - a).mean() / 2
    )  # closer to lab A's look


def test_reinhard_matches_the_targets_lab_statistics(two_labs):
    a, b = two_labs
    fit_a, fit_b = fit_stain(a, "reinhard", "A"), fit_stain(b, "reinhard", "B")
    mapped = fit_stain(StainMap(fit_b, fit_a)(b), "reinhard", "B mapped")
    assert np.abs(np.subtract(fit_a.means, fit_b.means)).max() > 3
    assert np.allclose(mapped.means, fit_a.means, atol=1.0) and np.allclose(mapped.stds, fit_a.stds, rtol=0.05)


def test_the_map_is_one_per_slide_and_fits_round_trip(two_labs, tmp_path):
    a, b = two_labs
    fit_a, fit_b = fit_stain(a, "macenko", "A"), fit_stain(b, "macenko", "B")
    whole = StainMap(fit_b, fit_a)(b)
    assert np.array_equal(StainMap(fit_b, fit_a)(b[:3]), whole[:3])  # a patch's result does not depend on its batch
    write_stain_fit(tmp_path / "A.json", fit_a)
    assert read_stain_fit(tmp_path / "A.json") == fit_a
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(InputError, match="bad.json.*not a stain fit file"):
        read_stain_fit(tmp_path / "bad.json")


def test_cross_patient_table_sets_within_and_cross_patient_side_by_side():
    import pandas as pd

    rows = [
        ("direct", "expression", "hvg50", "per_slide", 0, "P1_S1", "within-patient", "pearson_mean", 0.4),
        ("direct", "expression", "hvg50", "per_slide", 1, "P2_S1", "cross-patient", "pearson_mean", 0.1),
        ("direct", "expression", "hvg50", "per_slide", 2, "P2_S2", "cross-patient", "pearson_mean", 0.3),
        ("direct", "expression", "hvg50_train", "hest", 2, "all", "cross-patient", "pearson_mean", 0.9),
    ]
    summary = pd.DataFrame(
        rows, columns=["model", "target", "gene_set", "protocol", "fold", "test_sample", "patients", "metric", "value"]
    )
    table = cross_patient_table(
        {"run": summary, "other": summary.assign(value=summary.value / 2)},
        {"P1_S1": "P1", "P2_S1": "P2", "P2_S2": "P2"},
    )
    p2 = table[(table.run == "run") & (table.test_patient == "P2")]
    assert (
        p2.patients.tolist() == ["cross-patient"]
        and p2.mean_pcc.iloc[0] == pytest.approx(0.2)
        and p2.test_slides.iloc[0] == 2
    )
    assert table[(table.run == "other") & (table.test_patient == "P1")].mean_pcc.iloc[0] == pytest.approx(0.2)
    assert "hvg50_train" not in set(table.gene_set)  # the pooled HEST row is not a patient's
    with pytest.raises(ValueError, match="not in this run's sample sheet"):
        cross_patient_table({"run": summary}, {"P1_S1": "P1"})


def test_stain_study_runs_each_option_alone_on_the_expression_models(tmp_path):
    import yaml
    from snakemake.utils import validate

    from tools.stain_study import OPTIONS, option_config

    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    configs = {option: option_config(base, option, tmp_path) for option in OPTIONS}
    for option, config in configs.items():
        validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
        assert config["dataset"] == f"demo_{option}" and config["cell_type_models"]["models"] == []
        assert "hest_probe" in config["expression_models"]["models"] and config["training"]["final_models"] is False
    assert configs["none"]["stain_normalisation"]["method"] == "none" and configs["none"]["expression_models"]["train"][
        "stain_jitter"
    ] == {"hed": 0, "brightness": 0, "contrast": 0, "saturation": 0}
    assert configs["hed_jitter"]["expression_models"]["train"]["stain_jitter"]["hed"] == 0.05
    assert configs["reinhard"]["stain_normalisation"]["method"] == "reinhard"
    assert base["dataset"] == "demo"  # the base config is left as it was
