"""Mossy-fibre spike trains (:mod:`circuits.cerebellum.mossy`): gamma-renewal statistics.

:func:`renewal_train` must give stationary gamma-renewal trains (rate, ISI CV
``1/sqrt(kappa)``, a forward-recurrence first spike) and Poisson at ``kappa = 1``;
:func:`mossy_spike_trains` must put the biological preset's on, off and background rates
on the right rails and, at ``mossy.regularity = 1``, draw exactly the spikes of the Poisson
code it replaced (same seed, same spikes).
"""

from __future__ import annotations

import math
from dataclasses import replace

import brian2
import numpy as np
import pytest
from brian2 import Hz, ms, second

from circuits.cerebellum.coding import poisson_golgi
from circuits.cerebellum.mossy import (
    ACTIVE_LAG,
    active_window,
    lead_in,
    mossy_spike_trains,
    renewal_train,
)
from circuits.cerebellum.params import CerebellumParams, MossyFibreParams
from models.seeding import numpy_rng

# --------------------------------------------------------------------------------------------
# renewal_train
# --------------------------------------------------------------------------------------------


def _per_fibre(fibre: np.ndarray, times: np.ndarray, n: int) -> list[np.ndarray]:
    """Spike times of each fibre, in the order returned."""
    order = np.argsort(fibre, kind="stable")
    return np.split(times[order], np.cumsum(np.bincount(fibre, minlength=n))[:-1])


def _isis(fibre: np.ndarray, times: np.ndarray, n: int) -> np.ndarray:
    """Pooled inter-spike intervals of ``n`` fibres (each fibre's spikes sorted)."""
    return np.concatenate([np.diff(np.sort(t)) for t in _per_fibre(fibre, times, n)])


def test_regularity_one_is_poisson():
    """kappa 1: counts have mean rate * span and Fano factor 1 (Poisson), spikes in the span.

    And a gamma train (kappa 10) over the same long span has Fano factor ~1/kappa, so the
    Fano check tells the two processes apart.
    """
    rate, begin, end, n = 50.0, 0.3, 2.3, 2000
    fibre, times = renewal_train(np.random.default_rng(1), rate, begin, end, n, 1.0)
    assert fibre.dtype.kind == "i" and fibre.min() >= 0 and fibre.max() < n
    assert times.min() >= begin and times.max() < end
    counts = np.bincount(fibre, minlength=n)
    assert counts.mean() == pytest.approx(rate * (end - begin), rel=0.02)
    assert counts.var() / counts.mean() == pytest.approx(1.0, abs=0.1)
    isi = _isis(fibre, times, n)
    assert isi.std() / isi.mean() == pytest.approx(1.0, abs=0.05)  # exponential ISIs

    fibre, _ = renewal_train(np.random.default_rng(1), rate, begin, end, n, 10.0)
    counts = np.bincount(fibre, minlength=n)
    assert counts.var() / counts.mean() == pytest.approx(0.1, abs=0.03)


@pytest.fixture(scope="module")
def long_gamma():
    """100 Hz, kappa 10, 200 fibres over 20 s starting at 1 s."""
    rate, begin, end, n, kappa = 100.0, 1.0, 21.0, 200, 10.0
    fibre, times = renewal_train(np.random.default_rng(7), rate, begin, end, n, kappa)
    return rate, begin, end, n, kappa, fibre, times


def test_gamma_isi_cv_and_rate(long_gamma):
    """kappa 10: ISI CV ~1/sqrt(kappa) within 3%, mean ISI 1/rate and rate within 2%."""
    rate, begin, end, n, kappa, fibre, times = long_gamma
    assert times.min() >= begin and times.max() < end
    isi = _isis(fibre, times, n)
    assert isi.std() / isi.mean() == pytest.approx(1 / math.sqrt(kappa), rel=0.03)
    assert isi.mean() == pytest.approx(1 / rate, rel=0.02)
    assert len(times) / (n * (end - begin)) == pytest.approx(rate, rel=0.02)
    # every fibre fires at the rate, none is left short (per-fibre counts ~ rT +- sqrt(rT/k))
    counts = np.bincount(fibre, minlength=n)
    assert np.all(np.abs(counts - rate * (end - begin)) < 8 * math.sqrt(rate * 20 / kappa))


def test_gamma_no_fibre_runs_out_before_the_end(long_gamma):
    """The drawn intervals reach past ``end`` for every fibre: no thinning near the end.

    Each fibre's last spike lies within a few ISIs of ``end`` and the rate over the last
    second equals the rate over the first.
    """
    rate, begin, end, n, _, fibre, times = long_gamma
    last = np.full(n, -np.inf)
    np.maximum.at(last, fibre, times)
    assert np.all(end - last < 5 / rate)
    tail = np.count_nonzero(times >= end - 1.0) / n
    head = np.count_nonzero(times < begin + 1.0) / n
    assert tail == pytest.approx(rate, rel=0.03) and head == pytest.approx(rate, rel=0.03)


@pytest.mark.parametrize("kappa", [1.0, 10.0])
def test_stationary_start(kappa):
    """A span starts in the stationary state, not at a spike nor a full interval before one.

    The first spike's mean delay is the mean forward-recurrence time ``(1 + 1/kappa) /
    (2 rate)`` (5.5 ms at 100 Hz, kappa 10; a train started at a spike would wait a full
    10 ms), and the count over a span of half an ISI from ``begin`` has mean ``rate * span``.
    """
    rate, begin, n = 100.0, 2.0, 20000
    fibre, times = renewal_train(np.random.default_rng(3), rate, begin, begin + 1.0, n, kappa)
    first = np.full(n, np.inf)
    np.minimum.at(first, fibre, times)
    assert np.all(np.isfinite(first))
    assert (first - begin).mean() == pytest.approx((1 + 1 / kappa) / (2 * rate), rel=0.03)

    span = 0.5 / rate
    fibre, _ = renewal_train(np.random.default_rng(4), rate, begin, begin + span, 100000, kappa)
    assert len(fibre) / 100000 == pytest.approx(rate * span, rel=0.02)


@pytest.mark.parametrize("kappa", [1.0, 10.0])
@pytest.mark.parametrize(("rate", "begin", "end", "n"), [
    (0.0, 0.0, 1.0, 10),  # silent
    (50.0, 0.0, 1.0, 0),  # no fibres
    (50.0, 1.0, 1.0, 10),  # empty span
    (50.0, 1.0, 0.5, 10),  # reversed span
])
def test_empty_outputs_draw_nothing(kappa, rate, begin, end, n):
    """No spikes, and the generator untouched: later spans keep their draws."""
    rng = np.random.default_rng(5)
    fibre, times = renewal_train(rng, rate, begin, end, n, kappa)
    assert fibre.shape == (0,) and times.shape == (0,) and fibre.dtype == np.int64
    assert rng.random() == np.random.default_rng(5).random()


class _ShortFirstBlock:
    """A generator whose first block of later intervals is shrunk 20-fold.

    The first ``width`` spikes of every fibre then end long before the span does, so
    :func:`renewal_train` must extend the trains (its ``while`` loop) to fill the span.
    """

    def __init__(self, rng: np.random.Generator):
        self.rng, self.gamma_calls = rng, 0

    def random(self, *args, **kwargs):
        return self.rng.random(*args, **kwargs)

    def gamma(self, *args, **kwargs):
        self.gamma_calls += 1
        draw = self.rng.gamma(*args, **kwargs)
        return draw / 20 if self.gamma_calls == 2 else draw


def test_extension_fills_the_span():
    """When the first block of intervals falls short, the extension continues every train.

    Each fibre's spikes stay increasing across the join (the extension starts from its last
    spike), the span is filled to ``end``, and the extension's intervals have mean 1/rate
    (the right gamma scale).
    """
    rate, begin, end, n, kappa = 100.0, 0.5, 2.5, 300, 10.0
    rng = _ShortFirstBlock(np.random.default_rng(11))
    fibre, times = renewal_train(rng, rate, begin, end, n, kappa)
    assert rng.gamma_calls > 2  # the loop ran
    assert times.min() >= begin and times.max() < end
    width = math.ceil(rate * (end - begin) + 8 * math.sqrt(rate * (end - begin) / kappa + 1)
                      + 2)
    trains = _per_fibre(fibre, times, n)
    later = []
    for train in trains:
        assert np.all(np.diff(train) > 0)  # returned in time order, no jump back at the join
        assert end - train[-1] < 5 / rate
        assert len(train) > width  # the shrunk block, then the extension
        later.append(np.diff(train[width:]))
    isi = np.concatenate(later)
    assert isi.mean() == pytest.approx(1 / rate, rel=0.03)
    assert isi.std() / isi.mean() == pytest.approx(1 / math.sqrt(kappa), rel=0.1)


# --------------------------------------------------------------------------------------------
# mossy_spike_trains, biological preset
# --------------------------------------------------------------------------------------------


def _old_mossy_spike_trains(params, patterns, onsets, rng, *, slot=None, lead=0.0):
    """The Poisson-only ``mossy_spike_trains`` before ``mossy.regularity`` (commit 6284a26)."""
    mf, n = params.mossy, params.address_bits
    dt = float(params.protocol.dt / second)
    stim = float(mf.stimulus / second)
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
                counts = rng.poisson(rate * stim, size=len(rails))
                indices.append(np.repeat(rails, counts))
                times.append(onset + rng.random(counts.sum()) * stim)
    if mf.background and len(onsets):
        slot = float(params.protocol.read_slot / second) if slot is None else slot
        spans = [(onset + stim, onset + slot) for onset in onsets]
        if lead > 0:
            spans.insert(0, (onsets[0] - lead, onsets[0]))
        rails, mean = np.arange(2 * n if two else n), float(mf.mean_rate / brian2.Hz)
        for begin, end in spans:
            if end - begin <= 0:
                continue
            counts = rng.poisson(mean * (end - begin), size=len(rails))
            indices.append(np.repeat(rails, counts))
            times.append(begin + rng.random(counts.sum()) * (end - begin))
    if not indices:
        return np.array([], dtype=np.int64), np.array([])
    idx = np.concatenate(indices)
    steps = np.round(np.concatenate(times) / dt).astype(np.int64)
    keep = np.unique(np.stack([idx, steps]), axis=1)
    return keep[0], keep[1] * dt


def _present(params, n_keys: int, seed: int, lead: float | None = None):
    """Spikes of ``n_keys`` random keys, one per read slot, after ``lead`` s of background."""
    slot = float(params.protocol.read_slot / second)
    lead = lead_in(params) if lead is None else lead
    keys = numpy_rng(seed, "keys").integers(0, 2, (n_keys, params.address_bits))
    onsets = lead + slot * np.arange(n_keys)
    i, t = mossy_spike_trains(params, keys, onsets, numpy_rng(seed, "mf"), slot=slot,
                              lead=lead)
    return keys, onsets, slot, lead, i, t


def test_biological_rates_on_each_rail():
    """Biological preset: on rails at ``mossy.rate``, off rails at ``off_rate`` during a
    stimulus, every rail at ``mean_rate`` outside stimuli (lead-in and rests), within 5%."""
    params = poisson_golgi(n_granule=300)
    mf, n = params.mossy, params.address_bits
    assert mf.firing == "poisson" and mf.background and mf.regularity == 10.0
    keys, onsets, slot, lead, i, t = _present(params, 60, seed=2)
    stim = float(mf.stimulus / second)
    assert t.min() >= 0 and t.max() <= onsets[-1] + slot + 1e-9
    dt = float(params.protocol.dt / second)
    assert np.allclose(t / dt, np.round(t / dt))  # on the simulation grid
    pairs = np.stack([i, np.round(t / dt).astype(np.int64)])
    assert np.unique(pairs, axis=1).shape[1] == len(i)  # at most one spike per rail and step

    rails = 2 * n
    mean = float(mf.mean_rate / Hz)
    assert len(t[t < lead]) / (rails * lead) == pytest.approx(mean, rel=0.05)
    after = t >= lead
    # (a spike rounded onto the grid may land on the end of the last slot)
    key = np.minimum(np.floor((t[after] - lead) / slot + 1e-9).astype(int), len(keys) - 1)
    phase = t[after] - onsets[key]
    rail = i[after]
    value = keys[key, rail % n]
    on = (rail < n) == (value == 1)  # on rail of a 1 bit, off rail of a 0 bit
    inside = phase < stim
    span = n * stim * len(keys)  # rail-seconds of on (and of off) rails in stimuli
    assert np.count_nonzero(inside & on) / span == pytest.approx(float(mf.rate / Hz), rel=0.05)
    assert np.count_nonzero(inside & ~on) / span == pytest.approx(float(mf.off_rate / Hz),
                                                                  rel=0.1)
    rest = rails * (slot - stim) * len(keys)
    assert np.count_nonzero(~inside) / rest == pytest.approx(mean, rel=0.05)


@pytest.mark.parametrize(("kappa", "cv"), [(10.0, 1 / math.sqrt(10)), (1.0, 1.0)])
def test_background_regularity(kappa, cv):
    """One rail's ISIs over a stimulus-free background span have CV ``1/sqrt(regularity)``:
    0.32 for the preset's kappa 10 (more regular than Poisson), 1 at regularity 1."""
    params = poisson_golgi(n_granule=300)
    params = replace(params, mossy=replace(params.mossy, regularity=kappa))
    _, _, _, lead, i, t = _present(params, 1, seed=3, lead=5.0)
    background = t < lead
    isi = _isis(i[background], t[background], 2 * params.address_bits)
    assert isi.mean() == pytest.approx(1 / float(params.mossy.mean_rate / Hz), rel=0.03)
    assert isi.std() / isi.mean() == pytest.approx(cv, rel=0.05)


@pytest.mark.parametrize("seed", [0, 1])
def test_regularity_one_keeps_yesterdays_spikes(seed):
    """``mossy.regularity = 1`` draws exactly the old Poisson code's spikes for a seed.

    The biological preset (stimuli, off rails, lead-in and background) at regularity 1
    against a copy of the code before gamma trains; at the preset's regularity 10 the spikes
    differ (the comparison can tell).
    """
    base = poisson_golgi(n_granule=300)
    poisson = replace(base, mossy=replace(base.mossy, regularity=1.0))
    slot = float(base.protocol.read_slot / second)
    lead = lead_in(base)
    keys = numpy_rng(seed, "keys").integers(0, 2, (5, base.address_bits))
    onsets = lead + slot * np.arange(len(keys))
    old_i, old_t = _old_mossy_spike_trains(poisson, keys, onsets, numpy_rng(seed, "mf"),
                                           slot=slot, lead=lead)
    new_i, new_t = mossy_spike_trains(poisson, keys, onsets, numpy_rng(seed, "mf"),
                                      slot=slot, lead=lead)
    assert len(old_i) > 1000
    np.testing.assert_array_equal(new_i, old_i)
    np.testing.assert_array_equal(new_t, old_t)
    gamma_i, gamma_t = mossy_spike_trains(base, keys, onsets, numpy_rng(seed, "mf"),
                                          slot=slot, lead=lead)
    assert len(gamma_i) != len(old_i) or not np.array_equal(gamma_t, old_t)


def test_regular_volleys_unchanged():
    """The default (``kanerva``) volleys are the old code's too: no generator draws for them."""
    params = CerebellumParams(address_bits=16, value_bits=2)
    keys = numpy_rng(0, "keys").integers(0, 2, (3, 16))
    onsets = 0.12 * np.arange(3)
    old = _old_mossy_spike_trains(params, keys, onsets, np.random.default_rng(0))
    new = mossy_spike_trains(params, keys, onsets, np.random.default_rng(0))
    np.testing.assert_array_equal(new[0], old[0])
    np.testing.assert_array_equal(new[1], old[1])
    assert len(new[0]) == 3 * 16 * math.ceil(30e-3 * 50)  # 16 active rails, 2 volleys


# --------------------------------------------------------------------------------------------
# active_window and validation
# --------------------------------------------------------------------------------------------


def test_active_window():
    """The whole slot without a background; the stimulus delayed by ACTIVE_LAG with one."""
    assert active_window(CerebellumParams(), 0.12) == (0.0, 0.12)
    quiet = CerebellumParams(mossy=MossyFibreParams(firing="poisson", background=False))
    assert active_window(quiet, 0.2) == (0.0, 0.2)
    params = CerebellumParams(value_bits=4).with_preset("biological")
    start, end = active_window(params, 0.17)
    assert start == ACTIVE_LAG and ACTIVE_LAG > 0
    assert end == pytest.approx(float(params.mossy.stimulus / second) + ACTIVE_LAG)
    assert end == pytest.approx(0.047)


@pytest.mark.parametrize("value", [0, -1, 0.0, float("nan"), float("inf"), "x", None])
def test_regularity_validated(value):
    """mossy.regularity must be a finite number > 0; the error names the field."""
    with pytest.raises(ValueError, match=r"mossy\.regularity"):
        MossyFibreParams(regularity=value).validate()


def test_regularity_accepted():
    """Positive regularities (below and above Poisson) validate, an int included."""
    for value in (0.5, 1, 1.0, 10.0, 100.0):
        MossyFibreParams(regularity=value).validate()
    assert MossyFibreParams().regularity == 1.0  # the default stays Poisson
    assert MossyFibreParams(rate=50 * Hz, stimulus=30 * ms).regularity == 1.0
