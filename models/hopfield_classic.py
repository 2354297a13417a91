r"""The classic Hopfield network (Hopfield 1982): Hebbian couplings, energy, async/sync updates.

The equations are in :mod:`models.hopfield`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from models._checks import (
    as_tensor,
    check_choice,
    check_int,
)
from models.hopfield_common import (
    _patterns,
    _states,
    _StoredPatterns,
    _unsqueeze_result,
    _weights,
    iterate_to_fixed_point,
    overlaps,
)
from models.seeding import SeedLike, torch_generator

__all__ = [
    "ClassicHopfield",
    "ClassicRetrieval",
    "async_sweep",
    "classic_energy",
    "classic_retrieve",
    "hebbian_weights",
    "sync_update",
]


_MODES = ("async", "sync")

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
    def step(current: torch.Tensor) -> torch.Tensor:          # (active, N)
        if generator is not None:
            order = torch.randperm(n_units, generator=generator).to(w.device)
            return _async_sweep(w, current, order)
        return _sync_step(w, current)

    state, sweeps, converged = iterate_to_fixed_point(
        x.clone(), step, lambda new, old: (new != old).any(dim=1), max_sweeps)
    states, sweeps, converged = _unsqueeze_result(squeeze, state, sweeps, converged)
    return ClassicRetrieval(states=states, sweeps=sweeps, converged=converged)


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

