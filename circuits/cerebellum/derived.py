"""Quantities derived from the cerebellar parameters (:func:`derive`).

Granule calibration (:func:`granule_unit_response`, :func:`granule_rest`), the LTD window
(:func:`window_kernel`), the Hamming radius of a coding level, and the checks that refuse an
infeasible parameter combination naming its field. Re-exported by
:mod:`circuits.cerebellum.params`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import brian2.units as brian2_units
import numpy as np
from brian2 import Quantity, mV, second
from scipy.stats import binom

if TYPE_CHECKING:
    from circuits.cerebellum.params import CerebellumParams, GranuleParams

__all__ = [
    "Derived",
    "derive",
    "granule_rest",
    "granule_unit_response",
    "radius_for_coding_level",
    "window_kernel",
]


@dataclass(frozen=True)
class Derived:
    """Quantities the network needs, derived from :class:`CerebellumParams`."""

    radius: int | None  # d (full design)
    threshold_count: int  # c*: active rails needed for a spike
    expected_coding_level: float  # P(cell active) for a random uniform key
    granule_weight: Quantity  # J: MF->GrC current jump per spike
    granule_slow_weight: Quantity  # J_s: jump of the slow (NMDA-like) current per spike
    granule_latency: Quantity  # time from volley to the spike of a c*-cell
    n_golgi: int
    n_interneurons: int
    pf_unit_current: Quantity  # PC current jump per unit PF weight
    pf_delay: Quantity  # PF -> PC delay (matches the PF -> MLI -> PC path)
    pc_tonic: Quantity  # tonic current giving the baseline rate
    pc_interval: Quantity  # baseline inter-spike interval
    dcn_drive: Quantity  # R*I of the DCN tonic drive (volts)
    cf_offset: Quantity  # CF time after the presentation onset (asynchronous fibres: after
    # the onset plus half the stimulus, the middle of the granule spikes)
    window_norm: float  # peak of the last trace after one PF spike (normalises K to 1)
    window_tail: Quantity  # PF-CF interval beyond which K < 1% of its peak


def window_kernel(interval: np.ndarray, peak: Quantity, stages: int) -> np.ndarray:
    r"""Normalised LTD window for PF spikes ``interval`` before the CF spike.

    A chain of ``S`` event-driven exponential traces with time constant
    :math:`\tau = t_{peak} / (S - 1)` gives, for a PF spike at :math:`-\Delta t`,

    .. math:: K(\Delta t) = \frac{u^{S-1} e^{-u}}{(S-1)^{S-1} e^{-(S-1)}},
              \quad u = \Delta t / \tau, \quad \Delta t \ge 0,

    which peaks at 1 when :math:`\Delta t = t_{peak}` and is 0 for PF spikes after the CF.
    """
    interval = np.asarray(interval, dtype=float)
    tau = float(peak / second) / (stages - 1)
    u = np.clip(interval, 0, None) / tau
    order = stages - 1
    with np.errstate(divide="ignore"):
        log_k = order * np.log(u) - u - (order * math.log(order) - order)
    return np.where(interval > 0, np.exp(log_k), 0.0)


def _window_tail(peak: Quantity, stages: int, level: float = 0.01) -> Quantity:
    grid = np.linspace(float(peak / second), 20 * float(peak / second), 20000)
    values = window_kernel(grid, peak, stages)
    return float(grid[np.argmax(values < level)]) * second


def granule_unit_response(granule: GranuleParams, dt: Quantity,
                          duration: Quantity | None = None) -> np.ndarray:
    r"""Membrane response of a granule cell to a unit jump of its synaptic current.

    In volts above rest, per ampere, at the simulation steps that follow the jump.

    The granule cell is a linear current-based LIF integrated exactly, so the response to
    a current step :math:`I(0) = 1` sampled after ``k + 1`` steps is

    .. math:: u_k = \frac{\tau_e \tau_m}{C (\tau_m - \tau_e)}
              \left(e^{-t_k/\tau_m} - e^{-t_k/\tau_e}\right), \quad t_k = (k + 1)\,dt,

    which is what the threshold sees: the calibration is exact at any ``dt``.
    """
    C, tau_m, tau_e = (float(granule.C / brian2_units.farad), float(granule.tau_m / second),
                       float(granule.tau_e / second))
    steps = round(float((duration if duration is not None else 5 * granule.tau_m) / dt))
    t = (np.arange(steps) + 1) * float(dt / second)
    return tau_e * tau_m / (C * (tau_m - tau_e)) * (np.exp(-t / tau_m) - np.exp(-t / tau_e))


def slow_ratio(granule: GranuleParams) -> float:
    r"""``J_s / J``: jump of the slow current per unit jump of the fast one.

    The slow current carries the share ``s`` (``granule.slow_share``) of the EPSC charge:

    .. math:: \frac{J_s \tau_{slow}}{J \tau_e + J_s \tau_{slow}} = s
              \quad\Rightarrow\quad \frac{J_s}{J} = \frac{s}{1 - s}
              \frac{\tau_e}{\tau_{slow}}
    """
    s = granule.slow_share
    return s / (1 - s) * float(granule.tau_e / granule.tau_slow)


def granule_rest(granule: GranuleParams) -> tuple[Quantity, Quantity]:
    r"""Membrane time constant and resting potential of a granule cell with its tonic conductance.

    .. math:: \tau_{rest} = \frac{C}{C/\tau_m + g_{tonic}}, \quad
              V_{rest} = \frac{(C/\tau_m) E_L + g_{tonic} E_{GABA}}{C/\tau_m + g_{tonic}}

    (``tau_m`` and ``E_L`` when ``g_tonic`` is 0).
    """
    g_leak = granule.C / granule.tau_m
    total = g_leak + granule.g_tonic
    return granule.C / total, (g_leak * granule.E_L + granule.g_tonic * granule.E_GABA) / total


def derive(params: CerebellumParams) -> Derived:
    """Derive the network's calibrated quantities; raise naming the field if infeasible.

    Computed once per parameter object: ``params`` is frozen, so the result is kept on it and
    every later call (validation, the circuit, the network builder, the plasticity kernel,
    the memory guard) returns the same :class:`Derived`. ``dataclasses.replace`` makes a new
    object, derived afresh.
    """
    cached = params.__dict__.get("_derived")
    if cached is not None:
        return cached
    derived = _derive(params)
    object.__setattr__(params, "_derived", derived)  # frozen: set past the dataclass guard
    return derived


def _check_granule_kinetics(params: CerebellumParams) -> None:
    """The slow current's requirements; time constants the EPSP formula can use (distinct)."""
    g = params.granule
    if g.slow_share > 0 and (params.golgi.mode != "rate" or params.mossy.firing != "poisson"
                             or g.coincidence is None):
        raise ValueError("granule.slow_share > 0 needs golgi.mode = 'rate', mossy.firing "
                         "= 'poisson' and granule.coincidence (the conductance-based "
                         "granule cell calibrated by coincident EPSPs)")
    if params.golgi.mode == "rate" and g.coincidence is not None:
        tau_rest = granule_rest(g)[0]
        for name, tau in (("tau_e", g.tau_e), ("tau_slow", g.tau_slow if g.slow_share else None)):
            if tau is not None and abs(float(tau / tau_rest) - 1) < 1e-3:
                raise ValueError(
                    f"granule.{name} ({tau}) must differ from the granule membrane time "
                    f"constant with the tonic conductance ({tau_rest}); change it or "
                    f"granule.g_tonic")


def _derive(params: CerebellumParams) -> Derived:
    g, n = params.granule, params.address_bits
    _check_granule_kinetics(params)
    if g.design == "full":
        if g.radius is not None:
            radius = g.radius
            if radius > n:
                raise ValueError(f"granule.radius ({radius}) must be <= address_bits ({n})")
        else:
            radius = radius_for_coding_level(n, g.coding_level, g.n)
        threshold = n - radius
        level = float(binom.cdf(radius, n, 0.5))
    else:
        radius = None
        if g.inputs > n:
            raise ValueError(f"granule.inputs ({g.inputs}) must be <= address_bits ({n})")
        threshold = g.inputs - g.mismatches
        # P(at least `threshold` of k rails active and releasing): two rails match a uniform
        # bit with probability 1/2; one rail is active with the input activity; each
        # active synapse releases with probability P_rel.
        p_rail = 0.5 if params.mossy.rails == "two" else params.mossy.activity
        level = float(binom.sf(threshold - 1, g.inputs, p_rail * g.release_probability))
        if g.coding_level is not None and abs(math.log(level / g.coding_level)) > math.log(1.5):
            raise ValueError(
                f"granule.coding_level {g.coding_level} is impossible for the selected design "
                f"with {g.inputs} inputs, {g.mismatches} mismatches and release probability "
                f"{g.release_probability:g} (it gives {level:.4g}); change granule.inputs/"
                f"mismatches/release_probability or set granule.coding_level = none")
    if threshold < 1:
        raise ValueError("the granule threshold needs at least one active rail "
                         "(radius < address_bits)")
    if level * g.n < 1:
        raise ValueError(f"granule.coding_level x granule.n = {level * g.n:.3g} < 1: "
                         f"no granule cell would be active; raise granule.n or the level")
    if params.mossy.firing == "regular":
        response = granule_unit_response(g, params.protocol.dt)
        # (c* - 1/2) J max(u) = V_th - E_L: one volley on c* rails crosses, on c* - 1 not.
        weight = (g.V_th - g.E_L) / ((threshold - 0.5) * response.max() * brian2_units.ohm)
        theta = float((g.V_th - g.E_L) / brian2_units.volt)
        crossing = int(np.argmax(threshold * float(weight / brian2_units.amp) * response
                                 > theta))
        latency = (crossing + 1) * params.protocol.dt + g.mf_delay
    elif g.coincidence is not None:
        # Poisson input, coincidence calibration: n_co EPSPs arriving together on a resting
        # cell (tonic conductance included) cross threshold, n_co - 1 do not. A property of
        # the synapse, whatever the input rate; the Golgi loop (mode "rate") adapts to the rate.
        # a cell whose claws are all active must be able to collect n_co input spikes
        expected = float(g.inputs * params.mossy.rate * params.mossy.stimulus)
        if expected < g.coincidence:
            raise ValueError(
                f"mossy.rate {params.mossy.rate} and mossy.stimulus {params.mossy.stimulus}: "
                f"a granule cell with all {g.inputs} inputs active expects {expected:.3g} MF "
                f"spikes in a stimulus, fewer than the granule.coincidence ({g.coincidence}) "
                f"that fire it; no coding level is reachable (raise the rate or the stimulus)")
        tau_rest, v_rest = granule_rest(g)
        span = 5 * max(tau_rest, g.tau_slow) if g.slow_share > 0 else None
        response = granule_unit_response(replace(g, tau_m=tau_rest), params.protocol.dt, span)
        if g.slow_share > 0:  # the EPSP of both currents, J_s / J = slow_ratio
            response = response + slow_ratio(g) * granule_unit_response(
                replace(g, tau_m=tau_rest, tau_e=g.tau_slow), params.protocol.dt, span)
        weight = (g.V_th - v_rest) / ((g.coincidence - 0.5) * response.max()
                                      * brian2_units.ohm)
        latency = tau_rest + g.mf_delay
    else:
        # Poisson input: the mean depolarisation of a cell with c active rails is
        # c f J tau_e tau_m / C; put the threshold at c* - 1/2 rails. Fluctuations make the
        # selection soft (a noisy SDM); cells cross about one membrane time constant in.
        nominal = params.mossy.calibration_rate or params.mossy.rate
        weight = (g.V_th - g.E_L) * g.C / ((threshold - 0.5) * nominal * g.tau_e * g.tau_m)
        latency = g.tau_m + g.mf_delay

    n_golgi = max(params.golgi.minimum, round(g.n / params.golgi.ratio))
    n_interneurons = max(1, math.ceil(g.n / params.interneuron.granule_per_interneuron))

    dt = params.protocol.dt
    pf_delay = params.interneuron.pf_delay + dt  # PF->MLI, MLI threshold step, MLI->PC 0
    p, pl = params.purkinje, params.plasticity
    # one counter unit (ltp of weight) kicks the membrane by counter_gain:
    #   ltp * I_unit * tau_syn / C = counter_gain  (tau_syn << tau_m)
    unit = p.counter_gain * p.C / (pl.ltp * p.tau_syn)
    interval = 1 / p.rate
    free = interval - p.refractory
    x = float((p.V_th - p.E_L) / mV) / (1 - math.exp(-float(free / p.tau_m)))
    tonic = x * mV / p.tau_m * p.C

    nu = params.nuclei
    gap = float((interval + nu.margin) / nu.tau_m)
    a = float((nu.V_hyper - nu.E_L) / mV)
    b = float((nu.V_th - nu.E_L) / mV)
    dcn_drive = (b * math.exp(gap) - a) / (math.exp(gap) - 1) * mV

    pairing = params.climbing.pairing
    if pairing is None:
        pairing = pl.window_peak
    # asynchronous fibres: granule spikes spread over the stimulus; pair the CF with its
    # middle, so every stimulus spike falls near the window's peak (K > 0.89 for a 45 ms
    # stimulus and the default 100 ms, 5-stage window)
    spread = params.mossy.stimulus * (0.5 if params.mossy.firing != "regular" else 0.0)
    cf_offset = latency + pf_delay + pairing + spread
    order = pl.window_stages - 1
    # the last trace of the chain after one PF spike is (t/tau)^order/order! e^(-t/tau)
    norm = order ** order * math.exp(-order) / math.factorial(order)
    tail = _window_tail(pl.window_peak, pl.window_stages)

    proto = params.protocol
    # The next write's CF comes write_slot + pairing after this write's PF spikes: it must
    # fall outside the LTD window (K < 1%) so writes do not depress each other's synapses.
    # (asynchronous fibres: the last granule spikes come `spread` after the CF's pairing point)
    needed = max(cf_offset + params.mossy.stimulus, tail - pairing + spread)
    if proto.write_slot < needed:
        raise ValueError(
            f"protocol.write_slot ({proto.write_slot}) is shorter than the plasticity window: "
            f"the climbing fibre fires {cf_offset} after onset and the LTD window reaches "
            f"{tail} back from a CF spike; use at least {needed}")
    if params.mossy.stimulus > proto.read_slot or params.mossy.stimulus > proto.write_slot:
        raise ValueError("mossy.stimulus must fit in protocol.read_slot and write_slot")
    # with a background the loop stays at its steady state between stimuli: the feedback
    # inhibition of one stimulus need only fade, not the whole inhibition decay
    rest = params.mossy.stimulus + (2 if params.mossy.background else 8) * g.tau_inh
    if g.slow_share > 0:  # the slow current of one stimulus must fade (to e^-4 ~ 2%) too
        rest = max(rest, params.mossy.stimulus + 4 * g.tau_slow)
    if proto.read_slot < rest:
        raise ValueError(
            f"protocol.read_slot ({proto.read_slot}) leaves too little rest for Golgi "
            f"inhibition (and the slow granule current) to decay before the next "
            f"presentation; use at least {rest}")
    if params.mossy.background and proto.lead_in < 5 * g.tau_inh:
        raise ValueError(f"protocol.lead_in ({proto.lead_in}) is too short for the Golgi loop "
                         f"to settle on the background; use at least {5 * g.tau_inh}")
    for name, value in (("interneuron.pf_delay", params.interneuron.pf_delay),):
        steps = float(value / dt)
        if abs(steps - round(steps)) > 1e-6:
            raise ValueError(f"{name} ({value}) must be a multiple of protocol.dt ({dt})")
    return Derived(
        radius=radius, threshold_count=threshold, expected_coding_level=level,
        granule_weight=weight, granule_slow_weight=weight * slow_ratio(g),
        granule_latency=latency, n_golgi=n_golgi,
        n_interneurons=n_interneurons, pf_unit_current=unit, pf_delay=pf_delay,
        pc_tonic=tonic, pc_interval=interval, dcn_drive=dcn_drive, cf_offset=cf_offset,
        window_norm=norm, window_tail=tail,
    )


def radius_for_coding_level(n: int, coding_level: float, n_granule: int) -> int:
    """Hamming radius whose activation probability is nearest (in log) to ``coding_level``.

    Raises
    ------
    ValueError
        If no radius comes within a factor 2 of the target (the shells of ``{0,1}^n`` are
        too coarse there).
    """
    radii = np.arange(n + 1)
    levels = binom.cdf(radii, n, 0.5)
    best = int(np.argmin(np.abs(np.log(levels) - math.log(coding_level))))
    if abs(math.log(levels[best] / coding_level)) > math.log(2):
        raise ValueError(f"granule.coding_level {coding_level} is impossible for "
                         f"address_bits={n}: the nearest radius {best} gives "
                         f"{levels[best]:.3g}")
    return best
