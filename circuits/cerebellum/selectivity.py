"""Key selectivity of the granule code: firing probability against matched claws, g(M).

A selected-design granule cell reads ``granule.inputs`` address bits; for a key, ``M`` of
its claws sit on rails the key turns on (``M ~ Binomial(inputs, 1/2)`` for a random key with
two rails). For the granular layer to be a memory the probability ``g(M)`` that a cell
spikes during the stimulus must rise steeply with ``M``: active cells should be those
whose claws are all on, not Poisson threshold crossings. :func:`selectivity_vs_rate`
measures, per mean MF rate,

* ``g(M)``, ``M = 0..inputs``: the fraction of cells with ``M`` matched claws spiking in
  ``[onset + lag, onset + stimulus + lag]`` (the window of
  :func:`~circuits.cerebellum.coding.presentation_levels`);
* the coding level (all cells) in that window and, in as long a window of background
  before the first stimulus, the background level;
* the selectivity: the fraction of cells active during the stimulus with all claws on.

``g`` is the "stochastic activation" of the theory (``models.intersection_selected`` takes
an ``activation`` array g(M)). ``python -m circuits.cerebellum.selectivity`` prints the
table of the ``biological`` preset on held-out seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from brian2 import Hz, Quantity, ms, second

from circuits.cerebellum.coding import RATES_HZ, TARGET, at_mean_rate, granule_spikes
from circuits.cerebellum.network import GranuleWiring
from circuits.cerebellum.params import CerebellumParams
from models.seeding import numpy_rng

__all__ = ["SelectivityTable", "matched_claws", "measure_activation",
           "presentation_selectivity", "selectivity_vs_rate"]


def matched_claws(wiring: GranuleWiring, keys: np.ndarray) -> np.ndarray:
    """``(P, r)`` number of each cell's claws on rails that key ``p`` turns on (selected design).

    A claw on bit ``j`` with target ``b`` sits on an active rail when ``key[j] == b`` (two
    rails; one rail: ``b`` is 1).
    """
    if wiring.coordinates is None:
        raise ValueError("matched_claws needs the selected design (granule.design='selected')")
    keys = np.asarray(keys)
    return (keys[:, wiring.coordinates] == wiring.targets[None]).sum(-1)


def presentation_selectivity(params: CerebellumParams, keys: np.ndarray, seed: int,
                             lag: Quantity = 2 * ms) -> dict[str, np.ndarray]:
    """Spiking per matched count for each key of one simulation (:func:`granule_spikes`).

    Returns
    -------
    dict
        ``active`` ``(P, inputs + 1)`` cells spiking in the stimulus window, per ``M``;
        ``cells`` ``(P, inputs + 1)`` cells per ``M``; ``levels`` ``(P,)`` coding levels;
        ``background`` (a 0-d array) the fraction of cells spiking in as long a window of
        background ending at the first onset (0 without a long enough lead-in).
    """
    stim, shift = float(params.mossy.stimulus / second), float(lag / second)
    i, t, onsets, lead, wiring = granule_spikes(params, keys, seed)
    n, k = params.granule.n, params.granule.inputs
    matched = matched_claws(wiring, keys)
    active = np.zeros((len(keys), k + 1))
    cells = np.zeros_like(active)
    levels = np.zeros(len(keys))
    for p, onset in enumerate(onsets):
        window = (t >= onset + shift) & (t < onset + shift + stim)
        fired = np.zeros(n, bool)
        fired[i[window]] = True
        active[p] = np.bincount(matched[p][fired], minlength=k + 1)
        cells[p] = np.bincount(matched[p], minlength=k + 1)
        levels[p] = fired.mean()
    before = (t >= lead - stim) & (t < lead)
    background = len(np.unique(i[before])) / n if lead >= stim else 0.0
    return {"active": active, "cells": cells, "levels": levels,
            "background": np.asarray(background)}


def measure_activation(params: CerebellumParams, presentations: int = 24, seed: int = 0,
                       lag: Quantity = 2 * ms) -> tuple[np.ndarray, float]:
    """The circuit's stochastic activation g(M) and coding level, from random keys.

    ``presentations`` uniform random keys (drawn from ``seed``) are presented once each
    (:func:`presentation_selectivity`, wiring and spikes seeded by ``seed``); ``g[M]`` is the
    fraction of cells with ``M`` matched claws that spiked in the stimulus window, pooled
    over the keys. The overlap theory (:func:`models.intersection_selected.
    selected_intersection`) takes it as ``activation``: measure it with a seed the compared
    run does not use.

    Returns
    -------
    g, level
        ``(inputs + 1,)`` activation and the mean coding level.
    """
    keys = numpy_rng(seed, "activation_keys").integers(0, 2, (presentations,
                                                               params.address_bits))
    out = presentation_selectivity(params, keys, seed, lag)
    g = out["active"].sum(0) / np.maximum(out["cells"].sum(0), 1)
    return g, float(out["levels"].mean())


@dataclass(frozen=True)
class SelectivityTable:
    """Key selectivity of the granule code per mean MF rate (:func:`selectivity_vs_rate`).

    Arrays over rates (axis 0) are means across seeds (``*_sd``: sd across seeds); each
    seed pools its presentations.
    """

    rates_hz: tuple[float, ...]
    golgi: bool  # golgi.enabled of the measured circuit
    target: float  # target coding level
    g: np.ndarray  # (rates, inputs + 1): P(spike in the stimulus window | M matched claws)
    level: np.ndarray  # (rates,): coding level in the stimulus window
    level_sd: np.ndarray
    background: np.ndarray  # (rates,): level in as long a window of background only
    selectivity: np.ndarray  # (rates,): fraction of stimulus-active cells with M = inputs
    selectivity_sd: np.ndarray
    seeds: tuple[int, ...]
    presentations: int

    def max_relative_deviation(self) -> float:
        """Largest ``|level / target - 1|`` over the rates."""
        return float(np.max(np.abs(self.level / self.target - 1)))

    def activation(self, rate_hz: float) -> np.ndarray:
        """g(M), ``M = 0..inputs``, at mean rate ``rate_hz``: the theory's activation."""
        return self.g[self.rates_hz.index(rate_hz)].copy()

    def format(self) -> str:
        """A text table: mean rate, level +- sd, background, selectivity, g(M)."""
        k = self.g.shape[1] - 1
        lines = [f"golgi={self.golgi}; target {self.target:.3f}; seeds {self.seeds} x "
                 f"{self.presentations} keys",
                 "rate_Hz  level           bg      bg/lvl  select          "
                 + " ".join(f"g({m})   " for m in range(k + 1))]
        for r, rate in enumerate(self.rates_hz):
            lines.append(
                f"{rate:7g}  {self.level[r]:.4f}+-{self.level_sd[r]:.4f}  "
                f"{self.background[r]:.4f}  {self.background[r] / self.level[r]:.3f}   "
                f"{self.selectivity[r]:.3f}+-{self.selectivity_sd[r]:.3f}   "
                + " ".join(f"{x:.4f}" for x in self.g[r]))
        lines.append(f"max |level/target - 1|: {self.max_relative_deviation():.3f}")
        return "\n".join(lines)


def selectivity_vs_rate(params: CerebellumParams, rates_hz: tuple[float, ...] = RATES_HZ,
                        seeds: tuple[int, ...] = (5, 6, 7, 8, 9), presentations: int = 6,
                        target: float = TARGET, lag: Quantity = 2 * ms) -> SelectivityTable:
    """g(M), coding level, background level and selectivity against the mean MF rate.

    Parameters
    ----------
    params
        A selected-design circuit (e.g. :func:`~circuits.cerebellum.coding.poisson_golgi`);
        per rate the on and off rates are scaled together
        (:func:`~circuits.cerebellum.coding.at_mean_rate`); ``golgi.enabled`` as given.
    rates_hz
        Mean rates over all mossy fibres (Hz).
    seeds
        One wiring, key set and Poisson draw per seed (default: the held-out seeds 5-9;
        the preset was tuned on 0-4).
    presentations
        Random keys per seed.
    target
        Target coding level.
    lag
        Delay of the counting window after each onset.

    Returns
    -------
    SelectivityTable
    """
    k = params.granule.inputs
    g = np.zeros((len(seeds), len(rates_hz), k + 1))
    level, background, select = (np.zeros((len(seeds), len(rates_hz))) for _ in range(3))
    for s, seed in enumerate(seeds):
        keys = numpy_rng(seed, "coding_keys").integers(0, 2, (presentations,
                                                               params.address_bits))
        for r, rate in enumerate(rates_hz):
            out = presentation_selectivity(at_mean_rate(params, rate * Hz), keys, seed, lag)
            active, cells = out["active"].sum(0), out["cells"].sum(0)
            g[s, r] = active / np.maximum(cells, 1)
            level[s, r] = out["levels"].mean()
            background[s, r] = float(out["background"])
            select[s, r] = active[k] / max(active.sum(), 1)
    ddof = 1 if len(seeds) > 1 else 0
    return SelectivityTable(
        rates_hz=tuple(rates_hz), golgi=params.golgi.enabled, target=target, g=g.mean(0),
        level=level.mean(0), level_sd=level.std(0, ddof=ddof),
        background=background.mean(0), selectivity=select.mean(0),
        selectivity_sd=select.std(0, ddof=ddof), seeds=tuple(seeds),
        presentations=presentations)


if __name__ == "__main__":  # python -m circuits.cerebellum.selectivity
    import time

    from circuits.cerebellum.coding import poisson_golgi

    begin = time.perf_counter()
    base = poisson_golgi()
    for enabled in (True, False):
        print(selectivity_vs_rate(replace(base, golgi=replace(base.golgi,
                                                              enabled=enabled))).format())
    print(f"wall {time.perf_counter() - begin:.0f} s")
