"""``memcircuits figures window-imaging``: the least imaging that recovers the plasticity window.

The lowest frame rate and noise level that recover the PF->PC plasticity window from imaged
signals. The window is measured on the circuit's own synapses (as ``figures
cerebellum-window``); then every pairing is imaged as an experiment would image it, at each
frame rate of ``fps`` and noise level of ``noise_levels``, ``draws`` times
(:func:`mapping.window_imaging.recover_window`: calcium of the PF bouton and of the CF's
dendritic event timed by a matched filter, the synapse's efficacy through SEP-GluA2).
A condition *recovers* the window when every draw puts
its peak within ``imaging.peak_tolerance_ms`` of the measured peak with a correlation of at
least ``imaging.min_correlation``.

Data: ``window_imaging.csv`` (one row per frame rate, noise level and draw: median timing
error, fraction of mistimed pairings, recovered peak, correlation, recovered or not).
Figure ``window_imaging``: the fraction of draws recovering the window per condition, the
recovered windows at noise level 1 against the measured one, the timing error against the
frame rate.

Metrics: ``lowest_fps_nu<nu>`` (lowest frame rate recovering the window at that noise level;
absent where none does), ``highest_noise_level`` (the noisiest level some frame rate
recovers it at), ``lowest_fps`` (over all noise levels), ``window_peak_ms``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from circuits.cerebellum.plasticity import WindowSweep
from mapping.window_imaging import WindowImaging, recover_window
from models._checks import check_int
from models.rundir import RunDirectory, atomic_path
from models.seeding import child_seed

__all__ = ["Config", "run", "summarize"]


@dataclass(frozen=True)
class Config(WindowSweep):
    """Parameters of the frame-rate analysis.

    The circuit and intervals of the window (:class:`WindowSweep`), how it is imaged, the
    conditions tried.
    """

    step_ms: float = 5.0  #: interval spacing
    #: how the pairings are imaged and what counts as recovering the window
    imaging: WindowImaging = field(default_factory=WindowImaging)
    fps: tuple[float, ...] = (7.5, 15.0, 30.0, 60.0, 120.0, 250.0, 500.0)  #: Hz
    noise_levels: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)  #: nu of the calcium imaging
    draws: int = 3  #: independent imaging draws (frame phases, noise) per condition
    seed: int = 0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        from analysis.calcium_synthesis import SynthesisParams

        self.intervals()
        self.circuit.validate()
        self.imaging.validate()
        if not self.fps or not self.noise_levels:
            raise ValueError("fps and noise_levels must each list at least one value")
        dt = float(self.circuit.protocol.dt)
        for fps in self.fps:
            for nu in self.noise_levels:
                SynthesisParams(indicator=self.imaging.indicator, fps=fps,
                                noise_level=nu).validate()
            if fps * dt > 1 + 1e-9:
                raise ValueError(f"fps: {fps:g} Hz is above the simulation's time resolution "
                                 f"1/dt = {1 / dt:g} Hz")
        check_int("draws", self.draws, minimum=1)
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


def run(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> dict[str, Any]:
    """Measure the window, image it at every condition, and find the least that recovers it."""
    import matplotlib.pyplot as plt
    from brian2 import ms

    config.validate()
    circuit = config.circuit
    window = config.measure()
    dt = float(circuit.protocol.dt)
    rows, examples = [], {}
    for fps in config.fps:
        for nu in config.noise_levels:
            for draw in range(config.draws):
                got = recover_window(window.intervals, window.weight_change, fps, nu,
                                     config.imaging, dt=dt,
                                     seed=child_seed(config.seed, "window_imaging", draw))
                rows.append({"fps": float(fps), "noise_level": float(nu), "draw": draw,
                             "timing_error_ms": got.timing_error * 1e3,
                             "mistimed": got.mistimed, "peak_ms": got.peak * 1e3,
                             "true_peak_ms": got.true_peak * 1e3,
                             "correlation": got.correlation, "recovered": got.ok})
                if draw == 0:
                    examples[(float(fps), float(nu))] = got
    with atomic_path(run_dir.file("window_imaging.csv")) as tmp, open(tmp, "w",
                                                                     newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    def recovered(fps: float, nu: float) -> bool:
        return all(r["recovered"] for r in rows if r["fps"] == fps and r["noise_level"] == nu)

    metrics: dict[str, Any] = {"window_peak_ms": window.peak_interval * 1e3,
                               "window_peak_set_ms": float(
                                   circuit.plasticity.window_peak / ms)}
    lowest = []
    for nu in config.noise_levels:
        ok = [f for f in sorted(config.fps) if recovered(float(f), float(nu))]
        if ok:
            metrics[f"lowest_fps_nu{nu:g}"] = float(ok[0])
            lowest.append(float(ok[0]))
    if lowest:
        metrics["lowest_fps"] = min(lowest)
        metrics["highest_noise_level"] = max(
            float(nu) for nu in config.noise_levels
            if any(recovered(float(f), float(nu)) for f in config.fps))

    names = circuit.population_names
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 3.8))
    share = np.array([[np.mean([r["recovered"] for r in rows if r["fps"] == float(f)
                                and r["noise_level"] == float(nu)])
                       for f in config.fps] for nu in config.noise_levels])
    image = axes[0].imshow(share, origin="lower", cmap="Greens", vmin=0, vmax=1,
                           aspect="auto")
    axes[0].set_xticks(range(len(config.fps)), [f"{f:g}" for f in config.fps])
    axes[0].set_yticks(range(len(config.noise_levels)),
                       [f"{nu:g}" for nu in config.noise_levels])
    axes[0].set_xlabel("frame rate (Hz)")
    axes[0].set_ylabel(r"noise level $\nu$")
    axes[0].set_title(f"window recovered ({config.draws} draws; peak within "
                      f"{config.imaging.peak_tolerance_ms:g} ms, r >= "
                      f"{config.imaging.min_correlation:g})", fontsize=8)
    fig.colorbar(image, ax=axes[0], fraction=0.046)
    nu_shown = min(config.noise_levels, key=lambda nu: abs(nu - 1.0))
    some = next(iter(examples.values()))
    axes[1].plot(some.centres * 1e3, some.true, color="k", lw=2, label="measured (binned)")
    for f in config.fps[::2]:
        got = examples[(float(f), float(nu_shown))]
        axes[1].plot(got.centres * 1e3, got.recovered, marker="o", ms=2.5, lw=1,
                     label=f"{f:g} Hz")
    axes[1].axhline(0, color="0.6", lw=0.5)
    axes[1].set_xlabel(f"imaged {names['climbing']} - PF interval (ms)")
    axes[1].set_ylabel(r"imaged $\Delta w$ ($w_0$)")
    axes[1].set_title(rf"recovered window at $\nu$ = {nu_shown:g} (draw 0)", fontsize=9)
    axes[1].legend(fontsize=7)
    for nu in config.noise_levels:
        med = [np.median([r["timing_error_ms"] for r in rows if r["fps"] == float(f)
                          and r["noise_level"] == float(nu)]) for f in config.fps]
        axes[2].plot(config.fps, med, marker="o", ms=3, label=rf"$\nu$ = {nu:g}")
    axes[2].set_xscale("log")
    axes[2].set_yscale("log")
    axes[2].set_xlabel("frame rate (Hz)")
    axes[2].set_ylabel("median |interval error| (ms)")
    axes[2].legend(fontsize=7)
    axes[2].set_title(f"{config.imaging.indicator}: PF event {config.imaging.pf_event:g} AP, "
                      f"{names['climbing']} event {config.imaging.cf_event:g} AP", fontsize=9)
    fig.tight_layout()
    run_dir.save_figure(fig, "window_imaging")
    return metrics


def summarize(metrics: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    per_nu = ", ".join(f"nu {k.removeprefix('lowest_fps_nu')}: {v:g} Hz"
                       for k, v in metrics.items() if k.startswith("lowest_fps_nu"))
    return (f"plasticity window (peak {metrics['window_peak_ms']:.1f} ms) recovered from "
            f"imaging at lowest frame rate per noise level: {per_nu or 'none'}")
