"""``memcircuits figures cerebellum-window``: the PF->PC plasticity window of the circuit.

One parallel-fibre spike and one climbing-fibre spike are paired at each interval from
``-100`` to ``400`` ms (PF before CF is positive) on independent synapses built by the
circuit's own code (:func:`circuits.cerebellum.plasticity.measure_window`).

Metrics: ``window_peak_ms`` (interval of strongest depression, parabolic refinement),
``window_peak_set_ms`` (the configured peak), ``window_peak_error_ms``,
``max_depression_after_cf`` (largest weight decrease for PF spikes after the CF: 0 means no
LTD), ``ltp``, ``ltd``, ``max_abs_error_vs_kernel`` (measured vs analytic window).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from brian2 import ms, second

from circuits.cerebellum.params import derive
from circuits.cerebellum.plasticity import WindowSweep
from models.rundir import RunDirectory, atomic_write_json

__all__ = ["Config", "run", "summarize"]


@dataclass(frozen=True)
class Config(WindowSweep):
    """Parameters of the window measurement: the circuit and the PF-CF intervals."""

    seed: int = 0  #: unused (the measurement is deterministic); kept for the run contract

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        self.intervals()
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        self.circuit.validate()


def run(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> dict[str, Any]:
    """Measure the window and plot it next to the analytic kernel."""
    import matplotlib.pyplot as plt

    config.validate()
    window = config.measure()
    pl = config.circuit.plasticity
    peak = window.peak_interval * 1e3
    after = window.intervals < 0
    metrics = {
        "window_peak_ms": peak,
        "window_peak_set_ms": float(pl.window_peak / ms),
        "window_peak_error_ms": abs(peak - float(pl.window_peak / ms)),
        "max_depression_after_cf": float(max(0.0, -(window.weight_change[after]
                                                   - pl.ltp).min()))
        if after.any() else 0.0,
        "ltp": pl.ltp,
        "ltd": pl.ltd,
        "max_abs_error_vs_kernel": float(np.abs(window.weight_change - window.expected).max()),
        "window_tail_ms": float(derive(config.circuit).window_tail / second * 1e3),
    }
    atomic_write_json(run_dir.file("window.json"),
                      {"interval_s": window.intervals, "weight_change": window.weight_change,
                       "expected": window.expected})
    names = config.circuit.population_names
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.axhline(0, color="k", lw=0.5)
    ax.axvline(0, color="0.6", lw=0.8, ls=":")
    ax.plot(window.intervals * 1e3, window.expected, color="0.6", lw=3, alpha=0.6,
            label=r"$\mathrm{ltp} - \mathrm{ltd}\,K(\Delta t)$ (analytic)")
    ax.plot(window.intervals * 1e3, window.weight_change, "o", ms=2.5, color="tab:purple",
            label="measured (Brian2 synapses)")
    ax.axvline(peak, color="tab:red", lw=1, label=f"peak {peak:.1f} ms "
                                                  f"(set {pl.window_peak / ms:g} ms)")
    ax.set_xlabel(f"{names['climbing']} spike time - PF spike arrival (ms)")
    ax.set_ylabel(r"$\Delta w$ (units of $w_0$)")
    ax.set_title(f"PF->{names['purkinje']} plasticity window "
                 f"({pl.window_stages}-stage trace chain)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    run_dir.save_figure(fig, "plasticity_window")
    return metrics


def summarize(metrics: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    return (f"plasticity window: LTD peak at {metrics['window_peak_ms']:.2f} ms "
            f"(set {metrics['window_peak_set_ms']:g} ms), depression for PF after CF: "
            f"{metrics['max_depression_after_cf']:.3g}; ltp {metrics['ltp']:.4g}, "
            f"ltd {metrics['ltd']:.4g}; |measured - analytic| <= "
            f"{metrics['max_abs_error_vs_kernel']:.2g}")
