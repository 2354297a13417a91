r"""Mossy-fibre spike trains: synchronous volleys, Poisson or gamma-renewal trains.

A key (or query) sets which rails are active; :func:`mossy_spike_trains` turns a sequence of
patterns into rail spikes for the simulation. Asynchronous trains are renewal processes
with gamma-distributed inter-spike intervals of shape :math:`\kappa`
(``mossy.regularity``):

.. math:: p(\Delta) = \frac{(\kappa r)^\kappa \Delta^{\kappa - 1} e^{-\kappa r \Delta}}
          {\Gamma(\kappa)}, \qquad \mathrm{CV} = 1/\sqrt{\kappa}

at rate :math:`r`; :math:`\kappa = 1` is Poisson. Each span at a constant rate (a stimulus,
the background between stimuli) starts in the process's stationary state: the first spike
comes after a forward-recurrence time, a uniform fraction of a length-biased interval
(:math:`\mathrm{Gamma}(\kappa + 1)`), so the rate is ``r`` from the first instant and a
train's spike count over ``T`` has mean :math:`rT` and, for long ``T``, variance
:math:`rT/\kappa`.
"""

from __future__ import annotations

import math

import brian2
import numpy as np
from brian2 import second

from circuits.cerebellum.params import CerebellumParams

__all__ = ["ACTIVE_LAG", "active_window", "background_spike_trains", "lead_in",
           "mossy_spike_trains", "movable", "move_glomeruli", "odours_with_activity",
           "renewal_train"]

#: Granule latency (s) after which a stimulus's granule spikes are counted with a tonic
#: background: the MF delay plus the rise of a few coincident EPSPs.
ACTIVE_LAG = 2e-3


def odours_with_activity(count: int, n: int, activity: float,
                         rng: np.random.Generator) -> np.ndarray:
    """``count`` binary keys over ``n`` one-rail inputs with exactly ``round(activity*n)`` on.

    The mushroom body's odours: each activates the same number of glomeruli (projection
    neurons), so Kenyon-cell activity differs between odours only through which are on.
    """
    k = round(activity * n)
    out = np.zeros((count, n), dtype=np.uint8)
    for row in out:
        row[rng.choice(n, k, replace=False)] = 1
    return out


def movable(distance: int, on: int, off: int) -> bool:
    """Whether an odour with ``on`` / ``off`` inputs has a copy at ``distance`` with as many on.

    Inputs move in pairs (one off, one on): ``distance`` must be even and at most
    ``2 * min(on, off)``.
    """
    return distance % 2 == 0 and distance // 2 <= min(on, off)


def move_glomeruli(key: np.ndarray, distance: int, rng: np.random.Generator) -> np.ndarray:
    """A copy of the one-rail ``key`` at Hamming distance ``distance``, as many inputs on.

    ``distance / 2`` of its active inputs turn off and as many inactive ones turn on (an
    odour of graded similarity that activates the same number of glomeruli).

    Raises
    ------
    ValueError
        For an odd distance, or one needing more inputs than are on or off.
    """
    key = np.asarray(key, dtype=np.uint8)
    on, off = np.flatnonzero(key), np.flatnonzero(key == 0)
    half = distance // 2
    if not movable(distance, len(on), len(off)):
        raise ValueError(f"distance {distance}: an odour moves glomeruli in pairs (one off, "
                         f"one on) and has {len(on)} on and {len(off)} off, so a distance "
                         f"must be even and at most {2 * min(len(on), len(off))}")
    out = key.copy()
    out[rng.choice(on, half, replace=False)] = 0
    out[rng.choice(off, half, replace=False)] = 1
    return out


def lead_in(params: CerebellumParams) -> float:
    """Seconds of background before the first stimulus (``protocol.lead_in``; 0 without one)."""
    return float(params.protocol.lead_in / second) if params.mossy.background else 0.0


def active_window(params: CerebellumParams, slot: float) -> tuple[float, float]:
    """Start and end (s after an onset) of the window whose granule spikes form the active set.

    Without a background the whole slot (``[0, slot)``): granule cells fire only when driven.
    With a tonic background (``mossy.background``) only the stimulus, delayed by
    :data:`ACTIVE_LAG`: ``[lag, stimulus + lag)``; spikes between stimuli are the layer's
    spontaneous activity, not the key's code.
    """
    if not params.mossy.background:
        return 0.0, slot
    return ACTIVE_LAG, float(params.mossy.stimulus / second) + ACTIVE_LAG


def renewal_train(rng: np.random.Generator, rate: float, begin: float, end: float, n: int,
                  regularity: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    r"""Stationary gamma-renewal spikes of ``n`` independent fibres in ``[begin, end)``.

    Parameters
    ----------
    rng
        Source of randomness.
    rate
        Rate of every fibre (Hz).
    begin, end
        The span (s).
    n
        Number of fibres.
    regularity
        Shape :math:`\kappa` of the inter-spike-interval gamma distribution (1: Poisson,
        which is drawn as such: a Poisson count placed uniformly).

    Returns
    -------
    fibre, times
        Fibre index (``0..n-1``) and time (s) of each spike, unsorted.
    """
    span = end - begin
    if rate <= 0 or n == 0 or span <= 0:
        return np.array([], dtype=np.int64), np.array([])
    if regularity == 1.0:
        counts = rng.poisson(rate * span, size=n)
        return np.repeat(np.arange(n), counts), begin + rng.random(counts.sum()) * span
    scale = 1.0 / (regularity * rate)
    mean = rate * span
    # enough intervals that the last spike lies past the span but for a ~1e-9 chance
    width = math.ceil(mean + 8 * math.sqrt(mean / regularity + 1) + 2)
    first = rng.random((n, 1)) * rng.gamma(regularity + 1, scale, size=(n, 1))
    later = rng.gamma(regularity, scale, size=(n, width - 1))
    times = begin + np.cumsum(np.concatenate([first, later], axis=1), axis=1)
    while (times[:, -1] < end).any():  # the rare fibre that needs more: extend all
        more = rng.gamma(regularity, scale, size=(n, width))
        times = np.concatenate([times, times[:, -1:] + np.cumsum(more, axis=1)], axis=1)
    fibre, column = np.nonzero(times < end)
    return fibre, times[fibre, column]


def mossy_spike_trains(params: CerebellumParams, patterns: np.ndarray, onsets: np.ndarray,
                       rng: np.random.Generator, *, slot: float | None = None,
                       lead: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Mossy-fibre spikes (rail indices, times in s) presenting ``patterns`` at ``onsets``.

    Active rails (two-rail: the on rail of each 1 bit and the off rail of each 0 bit;
    one-rail: the rails of the 1 bits) fire at ``mossy.rate`` for ``mossy.stimulus`` after
    each onset: synchronous volleys at ``onset + k / rate`` (``regular``) or independent
    asynchronous trains (``poisson``: gamma-renewal trains of shape ``mossy.regularity``,
    Poisson at 1; :func:`renewal_train`). Inactive rails fire asynchronously at
    ``mossy.off_rate``. With ``mossy.background`` every rail also fires asynchronously at
    ``mossy.mean_rate`` outside the stimuli: from ``onset + stimulus`` to ``onset + slot``
    (``slot`` in s, default ``protocol.read_slot``) and for ``lead`` s before the first
    onset. Times are on the simulation grid, at most one spike per rail and step.
    """
    mf, n = params.mossy, params.address_bits
    dt = float(params.protocol.dt / second)
    stim = float(mf.stimulus / second)
    kappa = float(mf.regularity)
    indices, times = [], []
    two = mf.rails == "two"
    for pattern, onset in zip(patterns, onsets, strict=True):
        if two:
            active = np.arange(n) + n * (1 - pattern.astype(np.int64))
            inactive = np.arange(n) + n * pattern.astype(np.int64)
        else:
            active = np.flatnonzero(pattern)
            inactive = np.flatnonzero(pattern == 0)
        for rails, rate, regular in (
                (active, float(mf.rate / brian2.Hz), mf.firing == "regular"),
                (inactive, float(mf.off_rate / brian2.Hz), False)):
            if rate <= 0 or len(rails) == 0:
                continue
            if regular:
                volleys = onset + np.arange(math.ceil(stim * rate - 1e-9)) / rate
                indices.append(np.repeat(rails, len(volleys)))
                times.append(np.tile(volleys, len(rails)))
            else:
                fibre, t = renewal_train(rng, rate, onset, onset + stim, len(rails), kappa)
                indices.append(rails[fibre])
                times.append(t)
    if mf.background and len(onsets):  # drawn after the stimuli: defaults keep their spikes
        slot = float(params.protocol.read_slot / second) if slot is None else slot
        spans = [(onset + stim, onset + slot) for onset in onsets]
        if lead > 0:
            spans.insert(0, (onsets[0] - lead, onsets[0]))
        _background(params, spans, rng, indices, times)
    return _on_grid(indices, times, dt)


def _background(params: CerebellumParams, spans: list[tuple[float, float]],
                rng: np.random.Generator, indices: list, times: list) -> None:
    """Append every rail's tonic background within each ``(begin, end)`` span (s)."""
    mf = params.mossy
    n = params.address_bits
    rails = np.arange(2 * n if mf.rails == "two" else n)
    mean = float(mf.mean_rate / brian2.Hz)
    for begin, end in spans:
        fibre, t = renewal_train(rng, mean, begin, end, len(rails), float(mf.regularity))
        indices.append(rails[fibre])
        times.append(t)


def _on_grid(indices: list, times: list, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Spikes on the simulation grid, at most one per rail and step."""
    if not indices:
        return np.array([], dtype=np.int64), np.array([])
    idx = np.concatenate(indices)
    steps = np.round(np.concatenate(times) / dt).astype(np.int64)
    keep = np.unique(np.stack([idx, steps]), axis=1)  # one spike per rail per step
    return keep[0], keep[1] * dt


def background_spike_trains(params: CerebellumParams, begin: float, end: float,
                            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The tonic background of every rail from ``begin`` to ``end`` (s), without stimuli.

    What :func:`mossy_spike_trains` draws between stimuli (``mossy.background``), for a
    rest (:meth:`circuits.cerebellum.protocol.CerebellarSDM.rest`).
    """
    indices: list = []
    times: list = []
    _background(params, [(begin, end)], rng, indices, times)
    return _on_grid(indices, times, float(params.protocol.dt / second))
