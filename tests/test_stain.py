"""Stain robustness: the device-side colour perturbations and the per-slide stain normalisation
change images as intended."""

import numpy as np
import pytest
import torch
from skimage.color import combine_stains, rgb2hed, rgb_from_hed

from stpath.training.augment import StainJitter, colour_jitter, hed_jitter, stain_jitter, to_model_input


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
