"""Shared helpers for the model zoo."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Runs the body with the CPU RNG seeded by ``seed``, restoring it after.

    Used by every zoo factory so parameter initialisation is deterministic and
    does not disturb the caller's global RNG state.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
