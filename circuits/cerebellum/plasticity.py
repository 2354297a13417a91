"""Measure the PF->PC plasticity window of the circuit's own synapse model.

:func:`measure_window` pairs one parallel-fibre spike with one climbing-fibre spike at each
requested interval, on independent synapses built by the same
:func:`~circuits.cerebellum.network.pf_purkinje_synapses` the circuit uses, and returns the
weight change of each. Positive intervals mean the PF spike *precedes* the CF spike.
"""

from __future__ import annotations

from dataclasses import dataclass

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

__all__ = ["PlasticityWindow", "measure_window"]


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
    return PlasticityWindow(intervals=intervals, weight_change=change, expected=expected)
