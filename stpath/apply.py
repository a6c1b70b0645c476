"""Apply a model bundle of another run to this run's slides: every tissue tile gets the bundle's
prediction (expression or cell-type abundance). Above both method branches: it dispatches on the
bundle's task."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .bundles import Bundle
from .models import registry
from .predictions import TilePrediction


def apply_bundle(
    bundle: Bundle, tiles: dict[str, str], genes: list[str], device: torch.device, map_types: int = 6
) -> Iterator[tuple[TilePrediction, list[str]]]:
    """The bundle's prediction on every tile of each sample's tile file (``tiles``: sample ->
    path), with the columns a figure draws. ``genes``: what an expression bundle predicts (empty:
    its map genes)."""
    details = {
        "bundle": str(bundle.path),
        "bundle_fingerprint": bundle.fingerprint,
        "bundle_dataset": bundle.dataset,
        "train_samples": bundle.training_samples,
    }
    if bundle.task == registry.EXPRESSION:
        from .expression import wholeslide as expression

        predictor = expression.from_bundle(bundle, device)
        columns = list(genes) or list(bundle.map_genes)
        for sample, path in tiles.items():
            yield (
                expression.predict_tiles(
                    predictor, path, columns, device, bundle.scale, sample=sample, split="bundle", details=details
                ),
                columns[: expression.MAP_PANELS],
            )
    else:
        from .celltypes import wholeslide as cell_types
        from .celltypes.figures import major_types

        predictor = cell_types.from_bundle(bundle, device)
        for sample, path in tiles.items():
            tiles_prediction = cell_types.predict_tiles(
                predictor, path, device, bundle.scale, sample=sample, split="bundle", details=details
            )
            yield tiles_prediction, major_types(tiles_prediction.predicted, map_types)
