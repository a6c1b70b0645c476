"""Model building blocks and losses of CMRCNet / BLEEP / direct regression, at small sizes."""

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
    assert model.gene_tokens.net[0].weight.grad.abs().sum() > 0 and model.encoder.net.patch_embed.proj.weight.grad.abs().sum() > 0
    bleep = CMRCNet(40, CMRCNetConfig(encoder=SMALL, proj_dim=32, reconstruction=False))
    assert not hasattr(bleep, "fusion") and set(bleep(torch.randn(6, 3, 224, 224), torch.randn(6, 40))) == {"loss", "contrastive"}
    assert model.embed_images(torch.randn(2, 3, 224, 224)).shape == (2, 32)


def test_direct_regression_predicts_every_gene():
    model = DirectRegression(40, SMALL)
    assert model.predict(torch.randn(3, 3, 224, 224)).shape == (3, 40)
    assert model(torch.randn(3, 3, 224, 224), torch.zeros(3, 40))["loss"] >= 0


@pytest.mark.parametrize("keep", [0.0, 1.0])
def test_mask_extremes(keep):
    x = torch.ones(2, 3, 4)
    assert element_mask(x, keep).sum() == x.sum() * keep
