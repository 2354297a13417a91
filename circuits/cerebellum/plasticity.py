"""Measure the PF->PC plasticity window of the circuit's own synapse model.

:func:`measure_window` pairs one parallel-fibre spike with one climbing-fibre spike at each
requested interval, on independent synapses built by the same
:func:`~circuits.cerebellum.network.pf_purkinje_synapses` the circuit uses, and returns the
weight change of each. Positive intervals mean the PF spike *precedes* the CF spike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import brian2
import numpy as np
from brian2 import SpikeGeneratorGroup, Synapses, ms, second

from circuits.backend import brian_backend, run_network
from circuits.cerebellum.network import (
    initialise_pf_synapses,
    pf_purkinje_synapses,
    purkinje_group,
)
from circuits.cerebellum.params import CerebellumParams, derive, window_kernel

__all__ = ["MAX_INTERVALS", "MAX_INTERVAL_MS", "PlasticityWindow", "WindowSweep",
           "measure_window", "window_intervals"]


@dataclass(frozen=True)
class PlasticityWindow:
    """Weight change against PF-CF interval.

    Attributes
    ----------
    intervals
        PF-CF intervals (s): CF time minus PF arrival time at the synapse.
    weight_change
        Measured change of each synapse's weight (units of the baseline weight ``w0``).
    expected
        ``ltp - ltd * K(interval)`` from :func:`~circuits.cerebellum.params.window_kernel`.
    """

    intervals: np.ndarray
    weight_change: np.ndarray
    expected: np.ndarray

    @property
    def peak_interval(self) -> float:
        """Interval (s) of the strongest depression.

        Refined by a parabola through the minimum sample and its neighbours.
        """
        k = int(np.argmin(self.weight_change))
        if 0 < k < len(self.intervals) - 1:
            x = self.intervals[k - 1:k + 2]
            y = self.weight_change[k - 1:k + 2]
            a, b, _ = np.polyfit(x, y, 2)
            if a > 0:
                return float(-b / (2 * a))
        return float(self.intervals[k])


#: most PF-CF intervals measured (one synapse each; -100..400 ms every 2 ms holds 251)
MAX_INTERVALS = 100_000
#: largest absolute PF-CF interval (ms); the LTD window lasts a few hundred ms
MAX_INTERVAL_MS = 60_000.0


def window_intervals(first_ms: float, last_ms: float, step_ms: float) -> np.ndarray:
    """PF-CF intervals (s) from ``first_ms`` to ``last_ms`` every ``step_ms``.

    Raises ``ValueError`` naming the bad field: an empty or reversed range, a step <= 0,
    intervals beyond +-``MAX_INTERVAL_MS`` or more than ``MAX_INTERVALS`` of them (each is
    simulated on a synapse of its own).
    """
    if not last_ms > first_ms:
        raise ValueError("last_ms must be greater than first_ms")
    if step_ms <= 0:
        raise ValueError("step_ms must be > 0")
    for name, value in (("first_ms", first_ms), ("last_ms", last_ms)):
        if abs(value) > MAX_INTERVAL_MS:
            raise ValueError(f"{name} must lie within +-{MAX_INTERVAL_MS:g} ms (each "
                             f"interval is simulated), got {value:g}")
    count = (last_ms - first_ms) / step_ms + 1
    if count > MAX_INTERVALS:
        raise ValueError(f"step_ms = {step_ms:g} gives {count:.3g} PF-CF intervals from "
                         f"first_ms to last_ms, more than {MAX_INTERVALS}; raise step_ms or "
                         f"narrow first_ms..last_ms")
    return np.arange(first_ms, last_ms + 1e-9, step_ms) * 1e-3


@dataclass(frozen=True)
class WindowSweep:
    """A circuit and the PF-CF intervals at which its plasticity window is measured.

    The base of the configurations that measure the window (``figures cerebellum-window``,
    ``figures window-imaging``).
    """

    circuit: CerebellumParams = field(default_factory=CerebellumParams)
    first_ms: float = -100.0  #: earliest PF-CF interval (negative: PF after CF)
    last_ms: float = 400.0  #: latest PF-CF interval
    step_ms: float = 2.0  #: interval spacing

    def intervals(self) -> np.ndarray:
        """The intervals (s); ``ValueError`` as :func:`window_intervals`."""
        return window_intervals(self.first_ms, self.last_ms, self.step_ms)

    def measure(self) -> PlasticityWindow:
        """:func:`measure_window` of the circuit at the intervals."""
        return measure_window(self.circuit, self.intervals())


def measure_window(params: CerebellumParams | None = None,
                   intervals: np.ndarray | None = None, *,
                   backend: str | None = None) -> PlasticityWindow:
    """Pair one PF and one CF spike per synapse and measure the weight change.

    Parameters
    ----------
    params
        Circuit parameters (plasticity, Purkinje and timing fields are used).
    intervals
        PF-CF intervals in seconds (default -100..400 ms in 5 ms steps).
    backend
        Brian2 backend (default ``params.backend``).

    Returns
    -------
    PlasticityWindow
    """
    params = params if params is not None else CerebellumParams()
    params.validate()
    d = derive(params)
    if intervals is None:
        intervals = np.arange(-100, 401, 5) * 1e-3
    intervals = np.asarray(intervals, dtype=float)
    if intervals.ndim != 1 or len(intervals) == 0:
        raise ValueError("intervals must be a non-empty 1-d array of seconds")
    dt = float(params.protocol.dt / second)
    n = len(intervals)
    # CF at a common time late enough that every PF spike (sent pf_delay earlier than it
    # arrives) lies after t = 10 ms.
    t_cf = 10e-3 + float(d.pf_delay / second) + max(0.0, float(intervals.max()))
    pf_times = t_cf - intervals - float(d.pf_delay / second)
    duration = max(t_cf, float(pf_times.max())) + 50e-3
    with brian_backend(backend or params.backend, dt=params.protocol.dt) as info:
        pf = SpikeGeneratorGroup(n, np.arange(n), np.round(pf_times / dt) * dt * second,
                                 name="pf_probe*")
        cf = SpikeGeneratorGroup(n, np.arange(n), np.full(n, round(t_cf / dt) * dt) * second,
                                 name="cf_probe*")
        purkinje = purkinje_group(params, d, n)
        synapses, namespace = pf_purkinje_synapses(pf, purkinje, params, d)
        synapses.connect(j="i")
        initialise_pf_synapses(synapses, params)
        namespace["plastic_gate"] = brian2.TimedArray(np.ones(1), dt=1 * ms)
        climbing = Synapses(cf, purkinje, on_pre="cf_flag_post = 1", name="cf_probe_syn*")
        climbing.connect(j="i")
        network = brian2.Network(pf, cf, purkinje, synapses, climbing)
        run_network(network, duration * second, info)
        change = np.asarray(synapses.w[:]) - params.plasticity.baseline_weight
    pl = params.plasticity
    # the complex-spike event follows the CF spike by one time step
    expected = pl.ltp - pl.ltd * window_kernel(intervals + dt, pl.window_peak,
                                               pl.window_stages)
    # backward pairing: a PF spike arriving after the complex spike (one step after the CF)
    after = -intervals - dt
    expected = expected + np.where(after > dt / 2, pl.backward * pl.ltd * np.exp(
        -np.clip(after, 0, None) / float(pl.backward_tau / second)), 0.0)
    return PlasticityWindow(intervals=intervals, weight_change=change, expected=expected)
