"""Injected randomness: one integer seed per run, child seeds derived from it by name.

Adding a monitor, a plot or another consumer of randomness never changes the random numbers
an existing consumer draws, because each consumer asks for its own named child seed.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

from models._checks import check_int

__all__ = ["SeedLike", "child_seed", "numpy_rng", "torch_generator"]

SeedLike = int | np.integer | None


def child_seed(seed: SeedLike, *names: str | int) -> int:
    """Derive a 63-bit child seed from ``seed`` and a path of names.

    Parameters
    ----------
    seed
        The parent seed (``None`` draws fresh entropy from the operating system).
    *names
        A path such as ``("write", 3)``; the same path always gives the same child.

    Returns
    -------
    int
        A seed in ``[0, 2**63)``.
    """
    if seed is None:
        entropy = np.random.SeedSequence().entropy
    else:
        entropy = check_int("seed", seed, minimum=0)
    key = tuple(zlib.crc32(str(name).encode()) for name in names)
    sequence = np.random.SeedSequence(entropy=entropy, spawn_key=key)
    return int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def numpy_rng(seed: SeedLike | np.random.Generator, *names: str | int) -> np.random.Generator:
    """A numpy ``Generator`` for the named child of ``seed`` (or ``seed`` itself if a Generator)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(child_seed(seed, *names))


def torch_generator(seed: SeedLike | torch.Generator, *names: str | int,
                    device: torch.device | str = "cpu") -> torch.Generator:
    """A torch ``Generator`` on ``device`` for the named child of ``seed``."""
    if isinstance(seed, torch.Generator):
        return seed
    generator = torch.Generator(device=device)
    generator.manual_seed(child_seed(seed, *names))
    return generator
