r"""The modern (continuous) Hopfield network (Ramsauer et al. 2021): softmax update and energy.

The equations are in :mod:`models.hopfield`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from models._checks import (
    check_int,
    check_real,
)
from models.attention import beta_softmax
from models.hopfield_common import (
    _beta,
    _patterns,
    _states,
    _StoredPatterns,
    _unsqueeze_result,
    iterate_to_fixed_point,
)

__all__ = [
    "ModernHopfield",
    "ModernRetrieval",
    "lse",
    "modern_energy",
    "modern_retrieve",
    "modern_update",
    "softmax_weights",
]


# ----------------------------------------------------------------------------------------
# modern (continuous) Hopfield network
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModernRetrieval:
    """Result of :func:`modern_retrieve`.

    Attributes
    ----------
    states
        ``(batch, N)`` final states (``(N,)`` for a single probe).
    iterations
        ``(batch,)`` int64: the number of updates that moved the state by more than the
        tolerance, i.e. the updates needed to reach (within ``tol``) a fixed point. "Converges
        in one update" means ``iterations == 1``: the second update no longer moves it.
    converged
        ``(batch,)`` bool: an update moved the state by at most the tolerance within
        ``max_iter`` updates.
    """

    states: torch.Tensor
    iterations: torch.Tensor
    converged: torch.Tensor


def lse(beta: float, z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    r"""Log-sum-exp with inverse temperature :math:`\beta`.

    .. math:: \operatorname{lse}(\beta, z) = \beta^{-1} \ln \sum_\mu \exp(\beta z_\mu)
    """
    beta = _beta(beta)
    return torch.logsumexp(beta * z, dim=dim) / beta


def softmax_weights(patterns: Any, states: Any, beta: float) -> torch.Tensor:
    r"""Attention weights :math:`p = \operatorname{softmax}(\beta X \xi)` over the patterns.

    A state retrieving one pattern has one weight near 1; a metastable state (a mixture)
    spreads its weight over several patterns.

    Parameters
    ----------
    patterns
        ``(m, N)`` patterns, one per row (keys).
    states
        ``(batch, N)`` or ``(N,)`` states (queries).
    beta
        Inverse temperature, > 0.

    Returns
    -------
    torch.Tensor
        ``(batch, m)`` weights summing to 1 over patterns (``(m,)`` for a single state).
    """
    beta = _beta(beta)
    x = _patterns("patterns", patterns, bipolar=False)
    xi, squeeze = _states("states", states, x.shape[1], like=x, bipolar=False)
    weights = beta_softmax(xi @ x.T, beta, dim=1)      # (batch, m)
    return weights[0] if squeeze else weights


def modern_update(patterns: Any, states: Any, beta: float) -> torch.Tensor:
    r"""One update of the modern Hopfield network (one attention read).

    .. math:: \xi^{\mathrm{new}} = X^\top \operatorname{softmax}(\beta X \xi)

    (patterns as rows; the paper's :math:`X \operatorname{softmax}(\beta X^\top \xi)` with
    patterns as columns).

    Parameters
    ----------
    patterns
        ``(m, N)`` patterns, one per row (keys and values).
    states
        ``(batch, N)`` or ``(N,)`` states (queries).
    beta
        Inverse temperature, > 0.

    Returns
    -------
    torch.Tensor
        The updated states, same shape as ``states``.
    """
    beta = _beta(beta)
    x = _patterns("patterns", patterns, bipolar=False)
    xi, squeeze = _states("states", states, x.shape[1], like=x, bipolar=False)
    out = _modern_step(x, xi, beta)
    return out[0] if squeeze else out


def _modern_step(x: torch.Tensor, xi: torch.Tensor, beta: float) -> torch.Tensor:
    return beta_softmax(xi @ x.T, beta, dim=1) @ x      # (batch, m) @ (m, N)


def modern_energy(patterns: Any, states: Any, beta: float) -> torch.Tensor:
    r"""Energy of the modern Hopfield network (Ramsauer et al. 2020, eq. 2).

    .. math:: E(\xi) = -\operatorname{lse}(\beta, X \xi) + \tfrac{1}{2} \xi^\top \xi
              + \beta^{-1} \ln m + \tfrac{1}{2} M^2, \qquad M = \max_\mu \lVert x^\mu \rVert

    Parameters
    ----------
    patterns
        ``(m, N)`` patterns, one per row.
    states
        ``(batch, N)`` or ``(N,)`` states.
    beta
        Inverse temperature, > 0.

    Returns
    -------
    torch.Tensor
        ``(batch,)`` energies (0-d for a single state).
    """
    beta = _beta(beta)
    x = _patterns("patterns", patterns, bipolar=False)
    xi, squeeze = _states("states", states, x.shape[1], like=x, bipolar=False)
    n_patterns = x.shape[0]
    big_m = x.norm(dim=1).max()
    energy = (-lse(beta, xi @ x.T, dim=1) + 0.5 * (xi * xi).sum(dim=1)
              + math.log(n_patterns) / beta + 0.5 * big_m**2)
    return energy[0] if squeeze else energy


def modern_retrieve(patterns: Any, probes: Any, beta: float, *, tol: float = 1e-5,
                    max_iter: int = 100) -> ModernRetrieval:
    r"""Iterate :func:`modern_update` from ``probes`` until the state stops moving.

    A probe has converged when an update moves it by at most ``tol`` relative to the
    largest pattern norm :math:`M`:

    .. math:: \lVert \xi^{t+1} - \xi^{t} \rVert_2 \le \mathrm{tol} \cdot M ,

    and its iteration count is the number of updates before that one (the updates that
    moved it by more than the tolerance). Converged probes stop; the returned state is the
    one after the last update applied.

    Parameters
    ----------
    patterns
        ``(m, N)`` patterns, one per row.
    probes
        ``(batch, N)`` or ``(N,)`` initial states :math:`\xi^0`.
    beta
        Inverse temperature, > 0.
    tol
        Relative tolerance, > 0 (float32 rounding is about 1e-7 relative).
    max_iter
        Most updates to apply (>= 1).

    Returns
    -------
    ModernRetrieval
        Final states, iteration counts and convergence flags.
    """
    beta = _beta(beta)
    tol = check_real("tol", tol, minimum=0.0, strict_minimum=True)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    x = _patterns("patterns", patterns, bipolar=False)
    xi, squeeze = _states("probes", probes, x.shape[1], like=x, bipolar=False)
    threshold = tol * float(x.norm(dim=1).max())
    state, iterations, converged = iterate_to_fixed_point(
        xi.clone(), lambda current: _modern_step(x, current, beta),
        lambda new, old: (new - old).norm(dim=1) > threshold, max_iter)
    states, iterations, converged = _unsqueeze_result(squeeze, state, iterations, converged)
    return ModernRetrieval(states=states, iterations=iterations, converged=converged)


class ModernHopfield(_StoredPatterns):
    r"""A modern (continuous) Hopfield network with stored ``patterns`` and fixed ``beta``.

    ``forward`` is one update :math:`\xi \leftarrow X^\top \operatorname{softmax}(\beta X
    \xi)`, i.e. attention with the patterns as keys and values and the state as query.

    Parameters
    ----------
    patterns
        ``(m, N)`` real patterns, one per row.
    beta
        Inverse temperature :math:`\beta > 0`.
    device, dtype
        Where and as what to keep the patterns (default: their device, float32).
    """

    patterns: torch.Tensor

    def __init__(self, patterns: Any, beta: float, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.beta = _beta(beta)
        x = _patterns("patterns", patterns, bipolar=False, device=device,
                      dtype=dtype if dtype is not None else torch.float32)
        self.register_buffer("patterns", x)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """One update of ``states`` (see :func:`modern_update`)."""
        return modern_update(self.patterns, states, self.beta)

    def retrieve(self, probes: Any, *, tol: float = 1e-5, max_iter: int = 100
                 ) -> ModernRetrieval:
        """Iterate to a fixed point (see :func:`modern_retrieve`)."""
        return modern_retrieve(self.patterns, probes, self.beta, tol=tol, max_iter=max_iter)

    def energy(self, states: Any) -> torch.Tensor:
        """Energy of each state (see :func:`modern_energy`)."""
        return modern_energy(self.patterns, states, self.beta)

    def softmax_weights(self, states: Any) -> torch.Tensor:
        """Softmax weights over the stored patterns (see :func:`softmax_weights`)."""
        return softmax_weights(self.patterns, states, self.beta)

