r"""Shared parts of the classic and modern Hopfield networks: argument checks, overlaps.

:func:`overlaps` measures how close states are to the stored patterns; ``_StoredPatterns``
holds the ``(m, N)`` pattern buffer of both networks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from models._checks import (
    as_tensor,
    check_batch,
    check_bipolar,
    check_real,
)

__all__ = [
    "overlaps",
]



# ----------------------------------------------------------------------------------------
# argument checks
# ----------------------------------------------------------------------------------------


def _float_dtype(tensor: torch.Tensor, dtype: torch.dtype | None) -> torch.dtype:
    if dtype is not None:
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
        return dtype
    return tensor.dtype if tensor.dtype.is_floating_point else torch.float32


def _patterns(name: str, patterns: Any, *, bipolar: bool,
              device: torch.device | str | None = None,
              dtype: torch.dtype | None = None) -> torch.Tensor:
    """Check ``(m, N)`` patterns (m >= 1; bipolar, or finite reals) and return them as floats."""
    tensor = check_bipolar(name, patterns) if bipolar else as_tensor(name, patterns)
    if tensor.dim() != 2:
        raise ValueError(f"{name} must be a (m, N) matrix of patterns (one per row), "
                         f"got shape {tuple(tensor.shape)}")
    if tensor.shape[0] < 1 or tensor.shape[1] < 1:
        raise ValueError(f"{name} must hold at least one pattern of at least one unit, "
                         f"got shape {tuple(tensor.shape)}")
    if tensor.dtype == torch.bool or tensor.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {tensor.dtype}")
    tensor = tensor.to(device=device if device is not None else tensor.device,
                       dtype=_float_dtype(tensor, dtype))
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    return tensor


def _states(name: str, states: Any, n_units: int, *, like: torch.Tensor,
            bipolar: bool) -> tuple[torch.Tensor, bool]:
    """Check states against ``n_units``; return a (batch, N) float matrix and a squeeze flag."""
    return check_batch(name, states, kind="bipolar" if bipolar else "real", length=n_units,
                       what="the number of units N", finite=not bipolar, device=like.device,
                       dtype=like.dtype)


def _weights(weights: Any) -> torch.Tensor:
    """Check a square symmetric weight matrix; return it as floats."""
    tensor = as_tensor("weights", weights)
    if tensor.dim() != 2 or tensor.shape[0] != tensor.shape[1] or tensor.shape[0] < 1:
        raise ValueError(f"weights must be a square (N, N) matrix, got shape "
                         f"{tuple(tensor.shape)}")
    if tensor.dtype == torch.bool or tensor.is_complex():
        raise TypeError(f"weights must hold real numbers, got dtype {tensor.dtype}")
    tensor = tensor.to(dtype=_float_dtype(tensor, None))
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError("weights must be finite (found NaN or inf)")
    scale = float(tensor.abs().max()) if tensor.numel() else 0.0
    if not torch.allclose(tensor, tensor.T, rtol=1e-5, atol=1e-6 * max(scale, 1e-30)):
        raise ValueError("weights must be symmetric (W == W.T); the Hopfield energy and its "
                         "convergence guarantee need symmetric couplings")
    return tensor


def _beta(beta: Any) -> float:
    return check_real("beta", beta, minimum=0.0, strict_minimum=True)


def _unsqueeze_result(squeeze: bool, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(t[0] for t in tensors) if squeeze else tensors


def iterate_to_fixed_point(state: torch.Tensor, step: Callable[[torch.Tensor], torch.Tensor],
                           moved: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                           max_steps: int) -> tuple[torch.Tensor, ...]:
    """Apply ``step`` to the rows of ``state`` that still move, at most ``max_steps`` times.

    Parameters
    ----------
    state
        ``(batch, N)`` states, updated in place.
    step
        One update of a ``(k, N)`` block of states.
    moved
        ``moved(new, old) -> (k,)`` bool: which rows the update changed.
    max_steps
        Most updates of any row.

    Returns
    -------
    (state, counts, converged)
        The states; per row, the updates that changed it; whether it reached a fixed point.
    """
    batch = state.shape[0]
    counts = torch.zeros(batch, dtype=torch.int64, device=state.device)
    converged = torch.zeros(batch, dtype=torch.bool, device=state.device)
    active = torch.arange(batch, device=state.device)
    for _ in range(max_steps):
        current = state[active]
        new = step(current)
        changed = moved(new, current)
        state[active] = new
        counts[active[changed]] += 1
        converged[active[~changed]] = True
        active = active[changed]
        if active.numel() == 0:
            break
    return state, counts, converged


def overlaps(states: Any, patterns: Any, *, cosine: bool = False) -> torch.Tensor:
    r"""Overlaps of states with stored patterns.

    .. math:: m^\mu(s) = \frac{1}{N} \sum_i x^\mu_i s_i \quad\text{or, with ``cosine``,}\quad
              \frac{x^\mu \cdot s}{\lVert x^\mu \rVert \, \lVert s \rVert}

    For bipolar vectors the two agree and :math:`m = 1 - 2 d / N` with :math:`d` the
    Hamming distance.

    Parameters
    ----------
    states
        ``(batch, N)`` or ``(N,)`` real states.
    patterns
        ``(m, N)`` real patterns, one per row.
    cosine
        Normalise by the norms (for continuous states) instead of by ``N``.

    Returns
    -------
    torch.Tensor
        ``(batch, m)`` overlaps (``(m,)`` for a single state).
    """
    x = _patterns("patterns", patterns, bipolar=False)
    s, squeeze = _states("states", states, x.shape[1], like=x, bipolar=False)
    out = s @ x.T                                          # (batch, m)
    if cosine:
        norms = s.norm(dim=1, keepdim=True) * x.norm(dim=1)[None, :]
        out = out / norms.clamp_min(torch.finfo(out.dtype).tiny)
    else:
        out = out / x.shape[1]
    return out[0] if squeeze else out


class _StoredPatterns(nn.Module):
    """Shared part of the two networks: the ``(m, N)`` buffer ``patterns`` and its sizes."""

    patterns: torch.Tensor

    @property
    def n_units(self) -> int:
        """Number of units (pattern dimension) :math:`N`."""
        return int(self.patterns.shape[1])

    @property
    def n_patterns(self) -> int:
        """Number of stored patterns :math:`m`."""
        return int(self.patterns.shape[0])

