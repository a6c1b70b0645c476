"""Model building blocks and losses of CMRCNet / BLEEP / direct regression, at small sizes."""

import math

import pytest
import torch

from stpath.models.cmrcnet import CMRCNet, CMRCNetConfig
from stpath.models.direct import DirectRegression
from stpath.models.encoders import EncoderConfig, TokenEncoder
from stpath.models.layers import ContrastiveProjection, FusionBlock, GeneTokens, MCFNCrossAttention, element_mask
from stpath.models.losses import bleep_contrastive, cmrcnet_total

SMALL = EncoderConfig(embed_dim=64, depth=2, num_heads=4)


def test_default_encoder_is_cmrcnets_vit_b32():
    enc = TokenEncoder(EncoderConfig())
    tokens = enc(torch.zeros(1, 3, 224, 224))
    assert tokens.shape == (1, 50, 768) and len(enc.net.blocks) == 8 and enc.net.blocks[0].attn.num_heads == 8


def test_blocks_shapes():
    torch.manual_seed(0)
    assert ContrastiveProjection(300, 256)(torch.randn(5, 300)).shape == (5, 256)
    genes = GeneTokens(300, 8, 256)(torch.randn(5, 300))
    assert genes.shape == (5, 8, 256)
    x = torch.randn(5, 50, 256)
    assert MCFNCrossAttention(256, 8)(x, genes).shape == x.shape
    assert FusionBlock(256, 8)(x, genes).shape == x.shape


def test_mask_zeroes_about_half_of_the_entries():
    torch.manual_seed(0)
    kept = (element_mask(torch.ones(64, 50, 256), 0.5) != 0).float().mean()
    assert 0.49 < kept < 0.51


def test_contrastive_loss_is_per_sample_symmetric_and_rewards_alignment():
    torch.manual_seed(0)
    a, b = torch.randn(16, 32), torch.randn(16, 32)
    loss = bleep_contrastive(a, b)
    assert loss.shape == (16,)
    assert torch.allclose(bleep_contrastive(a, b).sum(), bleep_contrastive(b, a).sum(), atol=1e-4)
    assert bleep_contrastive(a * 3, a * 3).mean() < bleep_contrastive(a * 3, b * 3).mean()
    assert cmrcnet_total(torch.zeros(4), torch.tensor(0.0)) == 0


def test_cmrcnet_trains_both_terms_and_bleep_has_no_reconstruction_branch():
    torch.manual_seed(0)
    cfg = CMRCNetConfig(encoder=SMALL, proj_dim=32, gene_tokens=4, first_cross_heads=4, fusion_heads=4)
    model = CMRCNet(40, cfg)
    out = model(torch.randn(6, 3, 224, 224), torch.randn(6, 40))
    assert set(out) == {"loss", "contrastive", "reconstruction"}
    out["loss"].backward()
    assert (
        model.gene_tokens.net[0].weight.grad.abs().sum() > 0
        and model.encoder.net.patch_embed.proj.weight.grad.abs().sum() > 0
    )
    bleep = CMRCNet(40, CMRCNetConfig(encoder=SMALL, proj_dim=32, reconstruction=False))
    assert not hasattr(bleep, "fusion") and set(bleep(torch.randn(6, 3, 224, 224), torch.randn(6, 40))) == {
        "loss",
        "contrastive",
    }
    assert model.embed_images(torch.randn(2, 3, 224, 224)).shape == (2, 32)


def test_direct_regression_predicts_every_gene():
    model = DirectRegression(40, SMALL)
    assert model.predict(torch.randn(3, 3, 224, 224)).shape == (3, 40)
    assert model(torch.randn(3, 3, 224, 224), torch.zeros(3, 40))["loss"] >= 0


@pytest.mark.parametrize("keep", [0.0, 1.0])
def test_mask_extremes(keep):
    x = torch.ones(2, 3, 4)
    assert element_mask(x, keep).sum() == x.sum() * keep


def test_contrastive_loss_equals_the_hand_computed_value():
    image = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    spot = torch.tensor([[1.0, 1.0], [0.0, 1.0]])

    # logits = S I^T = [[1, 2], [0, 2]]; I I^T = [[1, 0], [0, 4]], S S^T = [[2, 1], [1, 1]]
    # targets = softmax(((I I^T + S S^T) / 2) rows) = softmax([[1.5, 0.5], [0.5, 2.5]])
    def softmax(row):
        e = [math.exp(v) for v in row]
        return [v / sum(e) for v in e]

    def log_softmax(row):
        lse = math.log(sum(math.exp(v) for v in row))
        return [v - lse for v in row]

    logits, targets = [[1, 2], [0, 2]], [softmax([1.5, 0.5]), softmax([0.5, 2.5])]
    logits_t, targets_t = [[1, 0], [2, 2]], [[targets[0][0], targets[1][0]], [targets[0][1], targets[1][1]]]
    spot_loss = [-sum(t * lp for t, lp in zip(targets[i], log_softmax(logits[i]))) for i in range(2)]
    image_loss = [-sum(t * lp for t, lp in zip(targets_t[i], log_softmax(logits_t[i]))) for i in range(2)]
    expected = [(s + i) / 2 for s, i in zip(spot_loss, image_loss)]
    assert bleep_contrastive(image, spot).tolist() == pytest.approx(expected, rel=1e-6)


def test_contrastive_loss_is_fp32_under_bf16_autocast():
    """At temperature 1 the logits of 256-d embeddings reach a few hundred; bf16 rounds them in
    steps of 1-2 and the loss by 1-2 % (the released code: fp16 with a scaler, ~0.1 %)."""
    g = torch.Generator().manual_seed(0)
    image, spot = torch.randn(64, 256, generator=g), torch.randn(64, 256, generator=g)
    spot = 0.7 * image + 0.3 * spot  # aligned pairs: logits up to ~250
    exact = bleep_contrastive(image.double(), spot.double())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = bleep_contrastive(image, spot)
    assert (spot @ image.T).abs().max() > 200
    assert autocast.dtype == torch.float32
    assert torch.allclose(autocast.double(), exact, rtol=1e-5, atol=1e-4)


def test_released_initialisation_of_the_from_scratch_encoder():
    torch.manual_seed(0)
    released = TokenEncoder(EncoderConfig(embed_dim=384, depth=2, num_heads=6), released_init=True).net
    timm_start = TokenEncoder(EncoderConfig(embed_dim=384, depth=2, num_heads=6)).net
    linear = torch.cat([m.weight.flatten() for m in released.modules() if isinstance(m, torch.nn.Linear)])
    assert linear.std().item() == pytest.approx(0.01, rel=0.05)  # trunc-normal within 2 (std), so ~0.01
    conv = released.patch_embed.proj.weight  # Kaiming fan-out: std sqrt(2 / (out channels x 32 x 32))
    assert conv.std().item() == pytest.approx(math.sqrt(2 / (384 * 32 * 32)), rel=0.05)
    assert all(m.bias.abs().sum() == 0 for m in released.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
    assert released.cls_token.std().item() == pytest.approx(0.02, rel=0.2)
    timm_linear = torch.cat([m.weight.flatten() for m in timm_start.modules() if isinstance(m, torch.nn.Linear)])
    assert timm_linear.std() > 1.5 * linear.std() and timm_start.patch_embed.proj.weight.std() > 4 * conv.std()
    cmrcnet = CMRCNet(40, CMRCNetConfig(encoder=SMALL, proj_dim=32))
    assert cmrcnet.encoder.net.patch_embed.proj.weight.std().item() == pytest.approx(
        math.sqrt(2 / (64 * 32 * 32)), rel=0.05
    )
    assert cmrcnet.fusion.block.norm1.eps == 1e-5 and cmrcnet.encoder.net.norm.eps == 1e-6
