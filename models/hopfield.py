r"""Classic (binary) and modern (continuous) Hopfield networks, batched, in PyTorch.

Conventions
-----------
- Stored patterns are the **rows** of a ``(m, N)`` tensor ``X``: ``m`` patterns of ``N``
  units (neurons). ``X[mu]`` is pattern :math:`x^\mu`.
- States (probes, queries) are the rows of a ``(batch, N)`` tensor; a single ``(N,)`` vector
  is accepted and the result is returned without the batch axis.

Classic Hopfield network (Hopfield 1982; Amit, Gutfreund & Sompolinsky 1985)
-----------------------------------------------------------------------------
Bipolar patterns :math:`x^\mu \in \{-1, +1\}^N` are stored with the Hebbian rule

.. math:: W_{ij} = \frac{1}{N} \sum_{\mu=1}^{m} x^\mu_i x^\mu_j \quad (i \neq j),
          \qquad W_{ii} = 0 .

A unit's local field is :math:`h_i = \sum_j W_{ij} s_j` and its update is
:math:`s_i \leftarrow \operatorname{sign}(h_i)`, where **a zero field keeps the current state**
(:math:`\operatorname{sign}(0)` would otherwise be undefined; keeping the state makes the
update flip a unit only when :math:`h_i s_i < 0`, so every flip lowers the energy strictly).
The update is either *asynchronous* (units one at a time, in a fresh random order each
sweep; the order is shared by all probes of a batch and drawn from ``seed``, so a probe's
trajectory does not depend on which other probes share its batch) or *synchronous* (all
units at once, :math:`s \leftarrow \operatorname{sign}(W s)`; may end in a 2-cycle). The
energy

.. math:: E(s) = -\tfrac{1}{2} s^\top W s

never increases under asynchronous updates of a symmetric :math:`W` with non-negative
diagonal. The load is :math:`\alpha = m / N`; for :math:`N \to \infty` retrieval states
exist up to :math:`\alpha_c \approx 0.138` (AGS 1985), with about 1.5 % wrong bits there.

Modern (continuous) Hopfield network (Ramsauer et al. 2020, "Hopfield Networks is All You Need")
-----------------------------------------------------------------------------------------------
The paper writes patterns as the columns of :math:`X = (x_1, \dots, x_m)` (shape
:math:`N \times m`, the paper calls the number of patterns :math:`N`) and the update as
:math:`\xi \leftarrow X \operatorname{softmax}(\beta X^\top \xi)`. With patterns as *rows*
(this module) the same update reads

.. math:: \xi^{\mathrm{new}} = X^\top \operatorname{softmax}(\beta X \xi),

and the energy (paper eq. 2, with their pattern count written :math:`m` here) is

.. math:: E(\xi) = -\operatorname{lse}(\beta, X \xi) + \tfrac{1}{2} \xi^\top \xi
          + \beta^{-1} \ln m + \tfrac{1}{2} M^2, \qquad
          \operatorname{lse}(\beta, z) = \beta^{-1} \ln \sum_{\mu} e^{\beta z_\mu},

with :math:`M = \max_\mu \lVert x^\mu \rVert`. The constants make :math:`0 \le E \le 2 M^2`
on the convex hull of the patterns; the update is the concave-convex procedure (CCCP) for
:math:`E`, so :math:`E` never increases. Large :math:`\beta` retrieves a single pattern after
about one update; small :math:`\beta` gives metastable states, mixtures of several patterns
(:func:`softmax_weights` shows the mixture), and the global fixed point near the pattern mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from models._checks import (
    as_tensor,
    check_batch,
    check_bipolar,
    check_choice,
    check_int,
    check_real,
)
from models.seeding import SeedLike, torch_generator

__all__ = [
    "ClassicHopfield",
    "ClassicRetrieval",
    "ModernHopfield",
    "ModernRetrieval",
    "async_sweep",
    "classic_energy",
    "classic_retrieve",
    "hebbian_weights",
    "lse",
    "modern_energy",
    "modern_retrieve",
    "modern_update",
    "overlaps",
    "softmax_weights",
    "sync_update",
]

_MODES = ("async", "sync")


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


# ----------------------------------------------------------------------------------------
# classic Hopfield network
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassicRetrieval:
    """Result of :func:`classic_retrieve`.

    Attributes
    ----------
    states
        ``(batch, N)`` final bipolar states (``(N,)`` for a single probe).
    sweeps
        ``(batch,)`` int64: the number of sweeps (asynchronous) or updates (synchronous)
        that changed the state. A probe that already is a fixed point has 0.
    converged
        ``(batch,)`` bool: a sweep/update left the state unchanged, i.e. ``states`` is a
        fixed point, within ``max_sweeps`` sweeps. False for states still moving at the end
        (e.g. a synchronous 2-cycle).
    """

    states: torch.Tensor
    sweeps: torch.Tensor
    converged: torch.Tensor


def hebbian_weights(patterns: Any, *, device: torch.device | str | None = None,
                    dtype: torch.dtype | None = None) -> torch.Tensor:
    r"""Hebbian weights of the classic Hopfield network, with zero diagonal.

    .. math:: W = \frac{1}{N} \sum_{\mu=1}^{m} x^\mu {x^\mu}^\top
              - \frac{m}{N} I = \frac{1}{N} X^\top X - \frac{m}{N} I

    Parameters
    ----------
    patterns
        ``(m, N)`` bipolar patterns :math:`x^\mu`, one per row.
    device, dtype
        Where and as what the weights are returned (default: the patterns' device and
        floating dtype, float32 for integer patterns).

    Returns
    -------
    torch.Tensor
        ``(N, N)`` symmetric weights with zero diagonal.
    """
    x = _patterns("patterns", patterns, bipolar=True, device=device, dtype=dtype)
    n_units = x.shape[1]
    # X^T X has integer entries, exact in floating point; divide once at the end.
    couplings = x.T @ x                                   # (N, N)
    couplings.fill_diagonal_(0)
    return couplings / n_units


def classic_energy(weights: Any, states: Any) -> torch.Tensor:
    r"""Energy :math:`E(s) = -\tfrac{1}{2} s^\top W s` of each state.

    Parameters
    ----------
    weights
        ``(N, N)`` symmetric weights.
    states
        ``(batch, N)`` or ``(N,)`` bipolar states.

    Returns
    -------
    torch.Tensor
        ``(batch,)`` energies (a 0-d tensor for a single state).
    """
    w = _weights(weights)
    s, squeeze = _states("states", states, w.shape[0], like=w, bipolar=True)
    energy = -0.5 * ((s @ w) * s).sum(dim=1)              # (batch,)
    return energy[0] if squeeze else energy


def _sync_step(w: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    h = s @ w                                              # (batch, N); w symmetric
    # sign(h), keeping the current state where h == 0: flip exactly where h s < 0.
    return torch.where(h * s < 0, -s, s)


def sync_update(weights: Any, states: Any) -> torch.Tensor:
    r"""One synchronous update :math:`s \leftarrow \operatorname{sign}(W s)` of every unit.

    A unit whose field :math:`h_i = (W s)_i` is exactly zero keeps its state.

    Parameters
    ----------
    weights
        ``(N, N)`` symmetric weights.
    states
        ``(batch, N)`` or ``(N,)`` bipolar states.

    Returns
    -------
    torch.Tensor
        The updated states, same shape.
    """
    w = _weights(weights)
    s, squeeze = _states("states", states, w.shape[0], like=w, bipolar=True)
    out = _sync_step(w, s)
    return out[0] if squeeze else out


_BLOCK = 64  # units per block in _async_sweep (small-tensor event loop, then one matmul)


def _async_sweep(w: torch.Tensor, s: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Sequential updates of the distinct units ``order`` (1-D, on ``w``'s device).

    ``s`` is ``(batch, N)`` and is not modified. Exact equivalent of visiting the units one
    by one, organised for speed:

    - fields are computed once, :math:`h = W s`, then updated incrementally: a flip of unit
      ``u`` by ``d = -2 s_u`` adds ``d W[:, u]``, so integer couplings keep them exact;
    - the visiting order is cut into blocks of ``_BLOCK`` units. Inside a block, only the
      block's own fields are updated, event by event: no field changes between two flips,
      so each probe jumps from its last flip straight to the next unstable unit
      (:math:`h_u s_u < 0`) in the block, all probes together. After the block, all
      fields get the block's flips in one matmul. A block in which no probe has an
      unstable unit is skipped.
    """
    state = s.clone()                                      # (batch, N)
    field = state @ w                                      # (batch, N): h = W s, W symmetric
    for start in range(0, order.numel(), _BLOCK):
        units = order[start:start + _BLOCK]                # (k,) unit indices of this block
        s_blk = state.index_select(1, units)               # (batch, k) copies
        h_blk = field.index_select(1, units)
        if not bool((h_blk * s_blk < 0).any()):
            continue
        before = s_blk.clone()
        w_rows = w.index_select(0, units)                  # (k, N): W[u, :] == W[:, u]
        w_blk = w_rows.index_select(1, units)              # (k, k)
        positions = torch.arange(units.numel(), device=s.device)
        pointer = torch.zeros((state.shape[0], 1), dtype=torch.int64, device=s.device)
        while True:
            unstable = ((h_blk * s_blk < 0) & (positions >= pointer)).to(torch.uint8)
            # argmax returns the first maximal index: the next unstable unit per probe.
            nxt = unstable.argmax(dim=1, keepdim=True)               # (batch, 1)
            flips = unstable.gather(1, nxt).to(state.dtype)          # (batch, 1): 1 or 0
            if not bool(flips.any()):
                break
            delta = flips.mul_(s_blk.gather(1, nxt)).mul_(-2.0)      # (batch, 1)
            s_blk.scatter_add_(1, nxt, delta)
            h_blk.addcmul_(delta, w_blk[nxt[:, 0]])                  # (batch, k)
            # A probe with nothing left to flip moves its pointer past the block.
            pointer = torch.where(flips != 0, nxt + 1, units.numel())
        state.index_copy_(1, units, s_blk)
        # (batch, k) @ (k, N): the block's flips reach every unit's field.
        field.addmm_(s_blk - before, w_rows)
    return state


def async_sweep(weights: Any, states: Any, order: Sequence[int] | torch.Tensor) -> torch.Tensor:
    r"""Update units one at a time, in the given order (one asynchronous sweep).

    For each unit index ``i`` in ``order``: :math:`s_i \leftarrow \operatorname{sign}(h_i)`
    with :math:`h_i = \sum_j W_{ij} s_j` computed from the current state (earlier updates in
    the sweep count); a zero field keeps :math:`s_i`.

    Parameters
    ----------
    weights
        ``(N, N)`` symmetric weights.
    states
        ``(batch, N)`` or ``(N,)`` bipolar states (not modified).
    order
        Distinct unit indices in ``[0, N)``, updated in turn (a permutation for a full
        sweep, or a subset; call again to revisit units).

    Returns
    -------
    torch.Tensor
        The updated states, same shape as ``states``.
    """
    w = _weights(weights)
    s, squeeze = _states("states", states, w.shape[0], like=w, bipolar=True)
    order_t = as_tensor("order", order)
    if order_t.dim() != 1 or (order_t.numel() and order_t.dtype.is_floating_point):
        raise ValueError(f"order must be a 1-D sequence of integer unit indices, got "
                         f"shape {tuple(order_t.shape)} and dtype {order_t.dtype}")
    order_t = order_t.to(device=w.device, dtype=torch.int64)
    if order_t.numel():
        low, high = int(order_t.min()), int(order_t.max())
        if low < 0 or high >= w.shape[0]:
            raise ValueError(f"order must hold unit indices in [0, {w.shape[0]}), got "
                             f"{low}..{high}")
        if order_t.unique().numel() != order_t.numel():
            raise ValueError("order must not repeat a unit (call async_sweep again to "
                             "revisit units)")
    out = _async_sweep(w, s, order_t)
    return out[0] if squeeze else out


def classic_retrieve(weights: Any, probes: Any, *, mode: str = "async", max_sweeps: int = 100,
                     seed: SeedLike | torch.Generator = None) -> ClassicRetrieval:
    r"""Run the classic Hopfield dynamics from ``probes`` until a fixed point.

    Each sweep updates every unit once: asynchronously (a fresh random permutation of the
    units per sweep, drawn from ``seed`` and shared by the whole batch) or synchronously
    (:math:`s \leftarrow \operatorname{sign}(W s)`). A zero local field keeps the unit's
    state. A probe stops as soon as one sweep leaves it unchanged (a fixed point); the
    permutation of sweep ``t`` is drawn whether or not probes remain, so a probe's
    trajectory depends only on ``seed``, not on the rest of the batch.

    Parameters
    ----------
    weights
        ``(N, N)`` symmetric weights, e.g. :func:`hebbian_weights`. Only the signs of the
        fields matter, so any positive multiple of :math:`W` gives the same dynamics;
        :class:`ClassicHopfield` passes the integer couplings :math:`N W` to keep the
        fields (and their ties at zero) exact.
    probes
        ``(batch, N)`` or ``(N,)`` bipolar initial states.
    mode
        ``"async"`` (random sequential, the AGS zero-temperature dynamics) or ``"sync"``.
    max_sweeps
        Most sweeps to run (>= 1).
    seed
        Integer seed or CPU ``torch.Generator`` for the asynchronous update order.

    Returns
    -------
    ClassicRetrieval
        Final states, the number of sweeps that changed each state, convergence flags.
    """
    mode = check_choice("mode", mode, _MODES)
    max_sweeps = check_int("max_sweeps", max_sweeps, minimum=1)
    w = _weights(weights)
    x, squeeze = _states("probes", probes, w.shape[0], like=w, bipolar=True)
    n_units = w.shape[0]
    generator = torch_generator(seed, "classic_retrieve") if mode == "async" else None
    state = x.clone()
    batch = state.shape[0]
    sweeps = torch.zeros(batch, dtype=torch.int64, device=w.device)
    converged = torch.zeros(batch, dtype=torch.bool, device=w.device)
    active = torch.arange(batch, device=w.device)
    for _ in range(max_sweeps):
        current = state[active]                            # (active, N)
        if generator is not None:
            order = torch.randperm(n_units, generator=generator).to(w.device)
            new = _async_sweep(w, current, order)
        else:
            new = _sync_step(w, current)
        changed = (new != current).any(dim=1)
        state[active] = new
        sweeps[active[changed]] += 1
        converged[active[~changed]] = True
        active = active[changed]
        if active.numel() == 0:
            break
    states, sweeps, converged = _unsqueeze_result(squeeze, state, sweeps, converged)
    return ClassicRetrieval(states=states, sweeps=sweeps, converged=converged)


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


class ClassicHopfield(_StoredPatterns):
    r"""A classic Hopfield network storing bipolar ``patterns`` with the Hebbian rule.

    Keeps the patterns and the integer couplings :math:`J = N W = X^\top X - m I` as
    buffers (so ``.to(device)`` moves them); :attr:`weights` is :math:`W = J / N`. Dynamics
    use :math:`J` (same signs as :math:`W`, exact integers in floating point while
    :math:`m N < 2^{24}` in float32 or :math:`2^{53}` in float64).

    Parameters
    ----------
    patterns
        ``(m, N)`` bipolar patterns :math:`x^\mu`, one per row.
    device, dtype
        Where and as what to keep them (default: the patterns' device, float32).

    Examples
    --------
    >>> from models.patterns import random_bipolar, flip_exact
    >>> x = random_bipolar(10, 200, seed=0)
    >>> net = ClassicHopfield(x)
    >>> out = net.retrieve(flip_exact(x, 20, seed=1), seed=2)
    >>> bool((out.states == x).all())
    True
    """

    patterns: torch.Tensor
    couplings: torch.Tensor

    def __init__(self, patterns: Any, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        x = _patterns("patterns", patterns, bipolar=True, device=device,
                      dtype=dtype if dtype is not None else torch.float32)
        couplings = x.T @ x                                # (N, N) integer-valued
        couplings.fill_diagonal_(0)
        self.register_buffer("patterns", x)
        self.register_buffer("couplings", couplings)

    @property
    def load(self) -> float:
        r"""The load :math:`\alpha = m / N`."""
        return self.n_patterns / self.n_units

    @property
    def weights(self) -> torch.Tensor:
        r"""Hebbian weights :math:`W = J / N` (zero diagonal)."""
        return self.couplings / self.n_units

    def energy(self, states: Any) -> torch.Tensor:
        r"""Energy :math:`-\tfrac{1}{2} s^\top W s` of each state (see :func:`classic_energy`)."""
        return classic_energy(self.weights, states)

    def retrieve(self, probes: Any, *, mode: str = "async", max_sweeps: int = 100,
                 seed: SeedLike | torch.Generator = None) -> ClassicRetrieval:
        """Run the dynamics from ``probes`` to a fixed point (see :func:`classic_retrieve`)."""
        return classic_retrieve(self.couplings, probes, mode=mode, max_sweeps=max_sweeps,
                                seed=seed)

    def overlaps(self, states: Any) -> torch.Tensor:
        r"""Overlaps :math:`m^\mu = x^\mu \cdot s / N` with the stored patterns."""
        return overlaps(states, self.patterns)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """One synchronous update of ``states`` (see :func:`sync_update`)."""
        return sync_update(self.couplings, states)


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
    weights = torch.softmax(beta * (xi @ x.T), dim=1)      # (batch, m)
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
    return torch.softmax(beta * (xi @ x.T), dim=1) @ x      # (batch, m) @ (m, N)


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
    state = xi.clone()
    batch = state.shape[0]
    iterations = torch.zeros(batch, dtype=torch.int64, device=x.device)
    converged = torch.zeros(batch, dtype=torch.bool, device=x.device)
    active = torch.arange(batch, device=x.device)
    for _ in range(max_iter):
        current = state[active]
        new = _modern_step(x, current, beta)
        moved = (new - current).norm(dim=1) > threshold
        state[active] = new
        iterations[active[moved]] += 1
        converged[active[~moved]] = True
        active = active[moved]
        if active.numel() == 0:
            break
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
