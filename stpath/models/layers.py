"""Building blocks shared by the model files: multilayer perceptrons, BLEEP's contrastive projection,
and the cross-modal blocks of CMRCNet's reconstruction branch, each as its method section describes it."""

from __future__ import annotations

import torch
from timm.models.vision_transformer import Block
from torch import nn


class ContrastiveProjection(nn.Module):
    """BLEEP's projection: p = Linear(x); out = LayerNorm(p + Dropout(Linear(GELU(p))))."""

    def __init__(self, in_dim: int, out_dim: int = 256, dropout: float = 0.1):
        super().__init__()
        self.project = nn.Linear(in_dim, out_dim)
        self.fc = nn.Linear(out_dim, out_dim)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.project(x)
        return self.norm(p + self.drop(self.fc(nn.functional.gelu(p))))


class GeneTokens(nn.Module):
    """Self-normalising gene encoder of the reconstruction branch: Linear(G -> n*d), ELU,
    AlphaDropout, reshaped to n tokens of width d."""

    def __init__(self, n_genes: int, n_tokens: int = 8, dim: int = 256, dropout: float = 0.25):
        super().__init__()
        self.n_tokens, self.dim = n_tokens, dim
        self.net = nn.Sequential(nn.Linear(n_genes, n_tokens * dim), nn.ELU(), nn.AlphaDropout(dropout))

    def forward(self, expression: torch.Tensor) -> torch.Tensor:
        return self.net(expression).view(expression.shape[0], self.n_tokens, self.dim)


def mlp(dims: list[int], dropout: float, norm: bool, last_act: bool) -> nn.Sequential:
    """Linear layers through ``dims``, each followed by [BatchNorm] ReLU and (but the last) Dropout;
    the last Linear without them unless ``last_act``."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        last = i == len(dims) - 2
        layers.append(nn.Linear(a, b))
        if last and not last_act:
            break
        if norm:
            layers.append(nn.BatchNorm1d(b))
        layers.append(nn.ReLU())
        if not last:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def element_mask(tokens: torch.Tensor, keep: float) -> torch.Tensor:
    """Zero each feature entry independently with probability 1 - keep (no mask token)."""
    return tokens * (torch.rand_like(tokens) < keep).to(tokens.dtype)


class MCFNCrossAttention(nn.Module):
    """MCFN-style cross-attention from image tokens to gene tokens: Q, K through
    Linear-ReLU-Dropout; out = V1(Q) + softmax(Q K^T / sqrt(d_head)) V2(K), per head."""

    def __init__(self, dim: int = 256, num_heads: int = 8, dropout: float = 0.25):
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Dropout(dropout))
        self.k = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Dropout(dropout))
        self.v1 = nn.Linear(dim, dim)
        self.v2 = nn.Linear(dim, dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.num_heads, d // self.num_heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, genes: torch.Tensor) -> torch.Tensor:
        q, k = self.q(x), self.k(genes)
        qh, kh = self._heads(q), self._heads(k)
        attn = torch.softmax(qh @ kh.transpose(-2, -1) * qh.shape[-1] ** -0.5, dim=-1)
        out = self._heads(self.v1(q)) + attn @ self._heads(self.v2(k))
        return out.transpose(1, 2).reshape(x.shape)


class FusionBlock(nn.Module):
    """Pre-LN self-attention and MLP (a timm ViT block; LayerNorm eps 1e-5 as released, not timm's
    1e-6), then MCFN cross-attention to the gene tokens, each with a residual. CMRCNet applies one
    instance twice (shared weights)."""

    def __init__(
        self,
        dim: int = 256,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        dropout: float = 0.1,
        cross_dropout: float = 0.25,
    ):
        super().__init__()
        self.block = Block(
            dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=True, proj_drop=dropout, norm_layer=nn.LayerNorm
        )
        self.cross = MCFNCrossAttention(dim, num_heads, cross_dropout)

    def forward(self, x: torch.Tensor, genes: torch.Tensor) -> torch.Tensor:
        x = self.block(x)
        return x + self.cross(x, genes)
