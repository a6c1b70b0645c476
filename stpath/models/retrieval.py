"""Prediction by retrieval (CMRCNet, BLEEP): the expression of the most similar training spots
(cosine top-k between a test image embedding and the training spots' expression embeddings,
unweighted mean of their expression)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


@torch.no_grad()
def retrieve(
    query: torch.Tensor, keys: torch.Tensor, key_expression: torch.Tensor, k: int, batch: int = 1024
) -> torch.Tensor:
    """Mean expression of the ``k`` keys most cosine-similar to each query. In float32 even under
    autocast: which keys are the top k must not depend on the caller's precision."""
    with torch.autocast(query.device.type, enabled=False):
        keys = F.normalize(keys.float(), dim=1)
        query = F.normalize(query.float(), dim=1)
        k = min(k, len(keys))
        out = []
        for i in range(0, len(query), batch):
            top = (query[i : i + batch] @ keys.T).topk(k, dim=1).indices
            out.append(key_expression[top].mean(dim=1))
        return torch.cat(out)
