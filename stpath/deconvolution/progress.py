"""Training progress of the cell2location models as plain log lines (a live progress bar written
to a rule's log file is unreadable)."""

from __future__ import annotations

import logging
import time

from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)


class EpochLog(Callback):
    """Log epoch, ELBO and speed about ``n_lines`` times over a run."""

    def __init__(self, name: str, max_epochs: int, n_lines: int = 20):
        self.name = name
        self.max_epochs = max_epochs
        self.every = max(1, max_epochs // n_lines)
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every and epoch != self.max_epochs:
            return
        elbo = trainer.callback_metrics.get("elbo_train")
        seconds = time.perf_counter() - self.start
        log.info(
            "%s: epoch %d/%d, ELBO %s, %.1f s, %.2f epochs/s",
            self.name,
            epoch,
            self.max_epochs,
            f"{float(elbo):.4g}" if elbo is not None else "n/a",
            seconds,
            epoch / seconds,
        )


def trainer_kwargs(name: str, max_epochs: int) -> dict:
    return {"enable_progress_bar": False, "callbacks": [EpochLog(name, max_epochs)]}
