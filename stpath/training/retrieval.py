"""Prediction: CMRCNet/BLEEP retrieve the expression of the most similar training spots (cosine
top-k between a test image embedding and the training spots' expression embeddings, unweighted
mean of their expression); direct regression predicts it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .augment import to_model_input


@torch.no_grad()
def embed_images(fn, images: torch.Tensor, device: torch.device, batch: int = 256) -> torch.Tensor:
    out = []
    autocast = device.type == "cuda"
    for i in range(0, len(images), batch):
        x = to_model_input(images[i : i + batch].to(device, non_blocking=True))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            out.append(fn(x).float())
    return torch.cat(out)


@torch.no_grad()
def retrieve(query: torch.Tensor, keys: torch.Tensor, key_expression: torch.Tensor, k: int, batch: int = 1024) -> torch.Tensor:
    """Mean expression of the ``k`` keys most cosine-similar to each query."""
    keys = F.normalize(keys, dim=1)
    query = F.normalize(query, dim=1)
    k = min(k, len(keys))
    out = []
    for i in range(0, len(query), batch):
        top = (query[i : i + batch] @ keys.T).topk(k, dim=1).indices
        out.append(key_expression[top].mean(dim=1))
    return torch.cat(out)
