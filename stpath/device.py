"""Which accelerator a training step runs on."""

from __future__ import annotations

import logging
import resource

import torch

log = logging.getLogger(__name__)


def pick_accelerator(requested: str = "auto") -> str:
    """'gpu' when asked for or when ``auto`` finds CUDA, else 'cpu'; logged either way."""
    if requested not in ("auto", "gpu", "cpu"):
        raise ValueError(f"accelerator must be auto, gpu or cpu, not {requested!r}")
    has_cuda = torch.cuda.is_available()
    if requested == "gpu" and not has_cuda:
        raise RuntimeError(
            "accelerator 'gpu' was requested but torch sees no CUDA device; set accelerator: auto or cpu"
        )
    chosen = "gpu" if requested == "gpu" or (requested == "auto" and has_cuda) else "cpu"
    if chosen == "gpu":
        log.info(
            "device: GPU %s (torch %s, CUDA %s)", torch.cuda.get_device_name(0), torch.__version__, torch.version.cuda
        )
    else:
        log.info("device: CPU, %d torch threads (torch %s)", torch.get_num_threads(), torch.__version__)
    return chosen


def torch_device(requested: str = "auto") -> torch.device:
    return torch.device("cuda" if pick_accelerator(requested) == "gpu" else "cpu")


def log_peak_memory(step: str) -> None:
    """Peak memory of this process (and of the GPU, when used), for steps without a benchmark file."""
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu = f", GPU peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MB" if torch.cuda.is_available() else ""
    log.info("%s: peak RSS %.0f MB%s", step, rss_mb, gpu)
