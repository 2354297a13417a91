"""Granule coding level against the mean mossy-fibre rate, with and without Golgi cells.

With asynchronous (Poisson) mossy fibres the volley-tuned Golgi loop does not hold the
coding level. :func:`poisson_golgi` gives the rate-coded loop (``golgi.mode="rate"``):
spontaneously active Golgi cells whose rate grows linearly with the mean MF rate
(feedforward) and with granule activity (feedback), shunting GABA_A conductance onto
granule cells on top of a tonic conductance, and granule synapses calibrated by
coincidence (``granule.coincidence``), not by a rate. :func:`coding_level_vs_rate` measures
the coding level over mean MF rates and seeds (``python -m circuits.cerebellum.coding``).

Rate code without an onset transient (``mossy.background``): mossy fibres fire tonically
at the mean rate before (``protocol.lead_in``) and between stimuli; a key sets which fire
fast (``rate``) and which slowly (``off_rate``), so the mean MF rate, the feedforward Golgi
drive and the granule conductance stay at their steady state through every onset.

Coding level: the fraction of granule cells that spike at least once during the whole
stimulus, ``[onset + lag, onset + stimulus + lag]`` with ``lag`` ~ the granule latency
(2 ms: MF delay plus the rise of coincident EPSPs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from brian2 import Hz, Quantity, ms, second

from circuits.backend import brian_backend, run_network
from circuits.cerebellum.network import GranuleWiring, build_network, random_wiring
from circuits.cerebellum.params import (
    CerebellumParams,
)
from circuits.cerebellum.protocol import lead_in, mossy_spike_trains
from models.seeding import numpy_rng

__all__ = ["RATES_HZ", "TARGET", "CodingTable", "at_mean_rate", "bisect_inhibition",
           "coding_level_vs_rate", "golgi_for_coding_level", "granule_spikes", "poisson_golgi",
           "presentation_levels"]

#: Mean mossy-fibre rates (Hz, averaged over all fibres) of the sweep.
RATES_HZ = (20.0, 30.0, 45.0, 60.0, 90.0, 120.0)
#: Target coding level of the ``biological`` preset: a few percent of granule cells active
#: (Chadderton et al. 2004; Powell et al. 2015; Giovannucci et al. 2017: ~2-10%).
TARGET = 0.02


def poisson_golgi(n_granule: int = 3000, **overrides) -> CerebellumParams:
    """The ``biological`` preset (:func:`circuits.cerebellum.params.apply_preset`) at a small size.

    64 address bits on two rails (128 MFs; a random key activates all four claws of 1/16
    of the granule cells), ``n_granule`` cells, 4 outputs, 170 ms slots (the stimulus plus
    four decays of the slow granule current, so one presentation does not prime the next)
    after a 150 ms lead-in of background. ``overrides`` replace
    top-level fields of the result.
    """
    params = CerebellumParams(value_bits=4).with_preset("biological")
    # the preset's read slot already lets the slow current fade; decode over all of it
    slot, tau_inh = params.protocol.read_slot, params.granule.tau_inh
    params = replace(params, granule=replace(params.granule, n=n_granule),
                     protocol=replace(params.protocol, decode_window=slot,
                                      lead_in=10 * tau_inh))
    return replace(params, **overrides)


def granule_spikes(params: CerebellumParams, keys: np.ndarray, seed: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, GranuleWiring]:
    """Granule spikes of the granular layer presenting ``keys`` after a background lead-in.

    Simulates mossy fibres, granule and Golgi cells: the ``protocol.lead_in`` of background
    (``mossy.background``), then one key per ``protocol.read_slot``; wiring and Poisson
    spikes seeded by ``seed``.

    Returns
    -------
    i, t
        Granule indices and spike times (s).
    onsets
        ``(P,)`` stimulus onsets (s).
    lead
        Length of the lead-in (s).
    wiring
        The granule wiring (:func:`~circuits.cerebellum.network.random_wiring`).
    """
    params.validate()
    slot = float(params.protocol.read_slot / second)
    lead = lead_in(params)
    onsets = lead + slot * np.arange(len(keys))
    mf_i, mf_t = mossy_spike_trains(params, keys, onsets, numpy_rng(seed, "mossy_spikes", 0),
                                    slot=slot, lead=lead)
    wiring = random_wiring(params, seed)
    with brian_backend(params.backend, None, dt=params.protocol.dt) as info:
        net = build_network(params, wiring, seed=seed, record=("granule",), layers="granular")
        net.groups["mossy"].set_spikes(mf_i, mf_t * second)
        run_network(net.network, (lead + slot * len(keys)) * second, info)
        t = np.asarray(net.spike_monitors["granule"].t[:] / second)
        i = np.asarray(net.spike_monitors["granule"].i[:])
    return i, t, onsets, lead, wiring


def presentation_levels(params: CerebellumParams, keys: np.ndarray, seed: int,
                        lag: Quantity = 2 * ms) -> tuple[np.ndarray, float]:
    """Coding level of each key over its whole stimulus, and of the background before it.

    Simulates the granular layer only (:func:`granule_spikes`); wiring and Poisson spikes
    seeded by ``seed``.

    Returns
    -------
    levels
        ``(P,)`` fractions of granule cells spiking in ``[onset + lag, onset + stimulus +
        lag]``: the whole stimulus, delayed by ``lag`` (~ the granule latency: MF delay plus
        the rise of a few coincident EPSPs).
    background
        Fraction spiking in as long a window of background at the end of the lead-in (0
        without background).
    """
    stim = float(params.mossy.stimulus / second)
    shift = float(lag / second)
    i, t, onsets, lead, _ = granule_spikes(params, keys, seed)
    n = params.granule.n

    def level(begin: float) -> float:
        return len(np.unique(i[(t >= begin) & (t < begin + stim)])) / n

    levels = np.array([level(a + shift) for a in onsets])
    return levels, (level(lead - stim) if lead >= stim else 0.0)


@dataclass(frozen=True)
class CodingTable:
    """Coding level against the mean MF rate: mean and sd across seeds, per condition.

    ``mean[c]``, ``sd[c]`` and ``background[c]`` (the level in as long a window of
    background, seed mean) are ``(len(rates),)`` arrays for condition ``c`` in ``("golgi",
    "no_golgi")``; each seed's value is its mean over presentations.
    """

    rates_hz: tuple[float, ...]
    target: float
    mean: dict[str, np.ndarray]
    sd: dict[str, np.ndarray]
    background: dict[str, np.ndarray]
    seeds: tuple[int, ...]
    presentations: int

    def max_relative_deviation(self, condition: str) -> float:
        """Largest ``|mean / target - 1|`` over the rates."""
        return float(np.max(np.abs(self.mean[condition] / self.target - 1)))

    def format(self) -> str:
        """A text table: mean MF rate, coding level mean +- sd per condition, background."""
        lines = [f"target {self.target:.4f}; {len(self.seeds)} seeds x {self.presentations} "
                 f"keys; level over the whole stimulus",
                 "mean_MF_Hz  golgi                no_golgi             golgi(bg)  "
                 "no_golgi(bg)"]
        for k, rate in enumerate(self.rates_hz):
            lines.append(
                f"{rate:10g}  {self.mean['golgi'][k]:.4f} +- {self.sd['golgi'][k]:.4f}   "
                f"{self.mean['no_golgi'][k]:.4f} +- {self.sd['no_golgi'][k]:.4f}   "
                f"{self.background['golgi'][k]:.4f}     {self.background['no_golgi'][k]:.4f}")
        for c in ("golgi", "no_golgi"):
            lines.append(f"max |level/target - 1| {c}: {self.max_relative_deviation(c):.3f}")
        return "\n".join(lines)


def at_mean_rate(params: CerebellumParams, mean: Quantity) -> CerebellumParams:
    """``params`` with on and off rates scaled together so that ``mossy.mean_rate == mean``."""
    scale = float(mean / params.mossy.mean_rate)
    mossy = replace(params.mossy, rate=params.mossy.rate * scale,
                    off_rate=params.mossy.off_rate * scale)
    return replace(params, mossy=mossy)


def golgi_for_coding_level(params: CerebellumParams, level: float, *, presentations: int = 12,
                           seed: int = 0, iterations: int = 8, span: float = 8.0,
                           lag: Quantity = 2 * ms) -> tuple[CerebellumParams, float]:
    """``params`` with the Golgi conductance scaled so the coding level is ``level``.

    With asynchronous mossy fibres no rule sets the coding level: Golgi inhibition holds it
    where its strength puts it. Bisection on ``log(golgi.conductance)`` within a factor
    ``span`` either way of the given conductance, the level measured on ``presentations``
    random keys with the same wiring and spikes at every step (``seed``; common random
    numbers, so the level falls monotonically with the conductance).

    Returns
    -------
    params, measured
        The circuit with the conductance found and its measured level.

    Raises
    ------
    ValueError
        If ``level`` is not in (0, 1) or lies outside what the range of conductances reaches
        (both ends' levels named).
    """
    if not 0 < level < 1:
        raise ValueError(f"coding level must lie in (0, 1), got {level}")
    keys = numpy_rng(seed, "golgi_level_keys").integers(0, 2, (presentations,
                                                                params.address_bits))
    base = params.golgi.conductance

    def at(log_factor: float) -> tuple[CerebellumParams, float]:
        p = replace(params, golgi=replace(params.golgi, conductance=base * np.exp(log_factor)))
        return p, float(presentation_levels(p, keys, seed, lag)[0].mean())

    return bisect_inhibition(
        at, level, span=span, iterations=iterations,
        refusal=lambda weakest, strongest: (
            f"coding level {level:g} is out of reach of the Golgi loop: {weakest:.4g} at "
            f"1/{span:g} and {strongest:.4g} at {span:g} x golgi.conductance"))


def bisect_inhibition(at: Callable[[float], tuple[CerebellumParams, float]], level: float, *,
                      span: float, iterations: int, refusal: Callable[[float, float], str],
                      miss: Callable[[float], float] | None = None
                      ) -> tuple[CerebellumParams, float]:
    """Bisection on the log of an inhibition factor for the coding level ``level``.

    ``at(log_factor)`` returns the circuit with its inhibition scaled by ``exp(log_factor)``
    and its measured level, which falls as the factor rises; the factor is searched within
    ``[1/span, span]`` and the circuit whose level misses ``level`` least (``miss``, default
    ``|log(measured / level)|``) among those tried is returned with its level.

    Raises
    ------
    ValueError
        ``refusal(weakest_level, strongest_level)`` when ``level`` lies outside the range.
    """
    if miss is None:
        def miss(measured: float) -> float:
            return abs(np.log(measured / level)) if measured > 0 else np.inf

    low, high = -np.log(span), np.log(span)
    weakest, strongest = at(low), at(high)
    if not strongest[1] <= level <= weakest[1]:
        raise ValueError(refusal(weakest[1], strongest[1]))
    best = min(weakest, strongest, key=lambda found: miss(found[1]))
    for _ in range(iterations):
        middle = 0.5 * (low + high)
        found = at(middle)
        best = min(best, found, key=lambda f: miss(f[1]))
        if found[1] > level:
            low = middle
        else:
            high = middle
    return best


def coding_level_vs_rate(params: CerebellumParams | None = None,
                         rates_hz: tuple[float, ...] = RATES_HZ,
                         seeds: tuple[int, ...] = (0, 1, 2, 3, 4), presentations: int = 6,
                         target: float = TARGET, lag: Quantity = 2 * ms) -> CodingTable:
    """Coding level vs mean MF rate, with and without Golgi cells.

    Parameters
    ----------
    params
        Circuit (default :func:`poisson_golgi`); per condition the on and off rates are
        scaled together to each mean rate (:func:`at_mean_rate`) and ``golgi.enabled`` is
        set; everything else (granule weights included) is kept.
    rates_hz
        Mean rates over all mossy fibres (Hz), :attr:`MossyFibreParams.mean_rate`.
    seeds
        One wiring, key set and Poisson draw per seed.
    presentations
        Random keys per seed and condition.
    target
        Target coding level (default :data:`TARGET`).
    lag
        Delay of the counting window after each onset (:func:`presentation_levels`).

    Returns
    -------
    CodingTable
    """
    params = poisson_golgi() if params is None else params
    mean, sd, background = {}, {}, {}
    for label, enabled in (("golgi", True), ("no_golgi", False)):
        per_seed = np.zeros((len(seeds), len(rates_hz)))
        per_seed_bg = np.zeros_like(per_seed)
        for s, seed in enumerate(seeds):
            keys = numpy_rng(seed, "coding_keys").integers(0, 2, (presentations,
                                                                   params.address_bits))
            for r, rate in enumerate(rates_hz):
                p = at_mean_rate(replace(params, golgi=replace(params.golgi, enabled=enabled)),
                                 rate * Hz)
                levels, per_seed_bg[s, r] = presentation_levels(p, keys, seed, lag)
                per_seed[s, r] = levels.mean()
        mean[label] = per_seed.mean(0)
        sd[label] = per_seed.std(0, ddof=1 if len(seeds) > 1 else 0)
        background[label] = per_seed_bg.mean(0)
    return CodingTable(rates_hz=tuple(rates_hz), target=target, mean=mean, sd=sd,
                       background=background, seeds=tuple(seeds), presentations=presentations)


if __name__ == "__main__":  # python -m circuits.cerebellum.coding
    import time

    begin = time.perf_counter()
    print(coding_level_vs_rate(seeds=tuple(range(10))).format())
    print(f"wall {time.perf_counter() - begin:.0f} s")
