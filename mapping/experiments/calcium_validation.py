r"""``memcircuits figures calcium-validation``: checks of the calcium forward models.

1. **OASIS round trip on the AR model** (:func:`analysis.calcium.ar_traces`): ``neurons``
   Poisson spike trains (``rate``) of ``duration`` s at ``fps``, AR(1) calcium with
   :math:`g = e^{-1/(f_s\tau)}`, amplitude ``amplitude`` (dF/F of one spike), white noise
   solved for each noise level :math:`\nu`. OASIS estimates :math:`g` (nonlinear fit of 20
   autocovariance lags) and deconvolves; ``ar_tau_error_nu*`` is the relative error of the
   median :math:`\hat\tau` over neurons, ``ar_correlation_nu*`` the median Pearson r of
   inferred and true spikes after Gaussian smoothing (sd ``smoothing`` s, 50 ms).
2. **The spike-to-fluorescence model** (:func:`analysis.calcium.synthesize`) for every
   indicator and noise level: ``noise_level_<ind>_nu*`` (median measured :math:`\nu`, must be
   within 10% of the request), ``s2f_correlation_<ind>_nu*`` (OASIS AR(2) with the
   indicator's kernel) and ``s2f_correlation_estimated_<ind>_nu*`` (AR(1) estimated by
   OASIS): the correlation falls as :math:`\nu` rises. A trace in which OASIS infers no
   spike at all counts as :math:`r = 0`.
3. **1-AP responses** (noise-free, sampled at ``one_ap_fps``): ``one_ap_peak_<ind>``,
   ``one_ap_half_decay_<ind>``, ``one_ap_time_to_peak_<ind>`` and their relative errors to
   the cited values (:data:`analysis.calcium.INDICATORS`).

Figures: ``oasis_round_trip``, ``noise_level``, ``one_ap``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.calcium import (
    INDICATORS,
    SpikeEvents,
    SynthesisParams,
    ar_traces,
    bin_spikes,
    deconvolve_oasis,
    fit_kernel,
    frame_count,
    measure_transient,
    one_ap_response,
    smoothed_correlation,
    synthesize,
)
from models._checks import check_int, check_real
from models.rundir import RunDirectory
from models.seeding import child_seed

__all__ = ["Config", "ar_round_trip", "poisson_events", "run", "summarize"]


@dataclass(frozen=True)
class Config:
    """Parameters of ``memcircuits figures calcium-validation``."""

    neurons: int = 20  # spike trains per condition
    duration: float = 600.0  # s per spike train
    rate: float = 0.5  # Hz, Poisson
    fps: float = 30.0  # Hz
    tau_decay: float = 0.7  # s, AR(1) decay (g = exp(-1/(fps tau)) ~ 0.953 at 30 Hz)
    amplitude: float = 0.133  # dF/F of one spike (GCaMP6s in vivo, Dana et al. 2019)
    ar_noise_levels: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)  # nu of the AR checks
    noise_levels: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)  # nu of the S2F checks
    indicators: tuple[str, ...] = ("GCaMP6f", "GCaMP6s", "jGCaMP7f", "jGCaMP8m")
    smoothing: float = 0.05  # s, Gaussian sd before correlating spikes
    one_ap_fps: float = 1000.0  # Hz, sampling of the noise-free 1-AP response
    seed: int = 0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        check_int("neurons", self.neurons, minimum=1)
        for name in ("duration", "rate", "fps", "tau_decay", "amplitude", "smoothing",
                     "one_ap_fps"):
            check_real(name, getattr(self, name), minimum=0.0, strict_minimum=True)
        for name in ("ar_noise_levels", "noise_levels"):
            for value in getattr(self, name):
                check_real(name, value, minimum=0.0, strict_minimum=True)
        for name in ("ar_noise_levels", "noise_levels", "indicators"):
            if not getattr(self, name):
                raise ValueError(f"{name} must list at least one value")
        for name in self.indicators:
            SynthesisParams(indicator=name).validate()
        check_int("seed", self.seed, minimum=0)
        self._check_memory()

    def _check_memory(self) -> None:
        """Refuse sizes whose traces would not fit the memory budget.

        ``neurons`` traces of ``duration * fps`` frames (float64, about ten arrays: calcium,
        fluorescence, noise, dF/F, deconvolved...) and their Poisson spikes.
        """
        from models._memory import refuse_over_budget

        frames = self.duration * self.fps
        spikes = self.duration * self.rate
        need = 8.0 * self.neurons * (10 * frames + 2 * spikes)
        name = "neurons" if self.neurons > max(frames, spikes) else "duration"
        refuse_over_budget(name, getattr(self, name), need,
                           f"{self.neurons} traces of {frames:.3g} frames at {self.fps:g} Hz "
                           f"with {spikes:.3g} spikes each")


def poisson_events(neurons: int, duration: float, rate: float, seed: int) -> SpikeEvents:
    """Independent Poisson spike trains (``rate`` Hz) of ``neurons`` neurons."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rate * duration, neurons)
    return SpikeEvents.of(np.repeat(np.arange(neurons), counts),
                          rng.random(counts.sum()) * duration)


def _r(inferred: np.ndarray, true: np.ndarray, config: Config) -> float:
    """Correlation after smoothing; a trace where OASIS inferred nothing counts as r = 0."""
    r = smoothed_correlation(inferred, true, config.fps, config.smoothing)[0]
    return float(r) if np.isfinite(r) else 0.0


def ar_round_trip(config: Config, nu: float) -> dict[str, Any]:
    """Deconvolve AR(1) traces at noise level ``nu``: estimated tau and spike correlation."""
    events = poisson_events(config.neurons, config.duration, config.rate,
                            child_seed(config.seed, "ar_spikes"))
    T = frame_count(config.duration, config.fps)
    counts = bin_spikes(events, config.neurons, T, config.fps)
    ar = ar_traces(counts, config.fps, tau_decay=config.tau_decay,
                   amplitude=config.amplitude, noise_level_target=nu,
                   seed=child_seed(config.seed, "ar_noise", str(nu)))
    taus, corr, inferred = [], [], []
    for i in range(config.neurons):
        spikes, _g, tau = deconvolve_oasis(ar.y[i], config.fps)
        taus.append(tau)
        inferred.append(spikes)
        corr.append(_r(spikes, counts[i], config))
    return {"tau": np.array(taus), "correlation": np.array(corr), "traces": ar,
            "inferred": np.array(inferred)}


def _s2f(config: Config, indicator: str, nu: float, events: SpikeEvents,
         counts: np.ndarray) -> dict[str, Any]:
    params = SynthesisParams(indicator=indicator, fps=config.fps, noise_level=nu)
    traces = synthesize(events, config.neurons, config.duration, params,
                        seed=child_seed(config.seed, "s2f", indicator, str(nu)))
    kernel = fit_kernel(indicator)
    known, estimated = [], []
    for i in range(config.neurons):
        spikes = deconvolve_oasis(traces.dff[i], config.fps, tau_decay=kernel.tau_decay,
                                  tau_rise=kernel.tau_rise)[0]
        known.append(_r(spikes, counts[i], config))
        try:
            spikes = deconvolve_oasis(traces.dff[i], config.fps)[0]
            estimated.append(_r(spikes, counts[i], config))
        except ValueError:  # no decay found in a pure-noise trace: nothing inferred
            estimated.append(0.0)
    return {"noise_level": float(np.median(traces.noise_level)), "photons": traces.photons,
            "known": float(np.median(known)), "estimated": float(np.median(estimated)),
            "example": traces.dff[0]}


def run(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> dict[str, Any]:
    """Run the three checks; save metrics and figures."""
    config.validate()
    metrics: dict[str, Any] = {"fps": config.fps, "neurons": config.neurons,
                               "duration_s": config.duration, "rate_hz": config.rate,
                               "tau_decay_s": config.tau_decay, "amplitude": config.amplitude,
                               "smoothing_s": config.smoothing}
    ar_results = {}
    for nu in config.ar_noise_levels:
        result = ar_round_trip(config, nu)
        ar_results[nu] = result
        tau = float(np.median(result["tau"]))
        metrics[f"ar_noise_level_nu{nu:g}"] = float(np.median(result["traces"].noise_level))
        metrics[f"ar_tau_estimate_nu{nu:g}"] = tau
        metrics[f"ar_tau_error_nu{nu:g}"] = tau / config.tau_decay - 1
        metrics[f"ar_correlation_nu{nu:g}"] = float(np.median(result["correlation"]))
        metrics[f"ar_correlation_min_nu{nu:g}"] = float(np.min(result["correlation"]))
        if progress:
            print(f"  AR nu {nu:g}: tau {tau:.3f} s, r {np.median(result['correlation']):.3f}")
    events = poisson_events(config.neurons, config.duration, config.rate,
                            child_seed(config.seed, "s2f_spikes"))
    counts = bin_spikes(events, config.neurons, frame_count(config.duration, config.fps),
                        config.fps)
    s2f: dict[tuple[str, float], dict[str, Any]] = {}
    for indicator in config.indicators:
        for nu in config.noise_levels:
            out = _s2f(config, indicator, nu, events, counts)
            s2f[indicator, nu] = out
            tag = f"{indicator}_nu{nu:g}"
            metrics[f"noise_level_{tag}"] = out["noise_level"]
            metrics[f"noise_level_error_{tag}"] = out["noise_level"] / nu - 1
            metrics[f"photons_{tag}"] = out["photons"]
            metrics[f"s2f_correlation_{tag}"] = out["known"]
            metrics[f"s2f_correlation_estimated_{tag}"] = out["estimated"]
            if progress:
                print(f"  {indicator} nu {nu:g}: measured {out['noise_level']:.3f}, "
                      f"{out['photons']:.0f} photons, r {out['known']:.3f}")
    metrics["noise_level_max_error"] = max(abs(out["noise_level"] / nu - 1)
                                           for (_i, nu), out in s2f.items())
    one_ap = {}
    for indicator in config.indicators:
        ind = INDICATORS[indicator]
        t, dff = one_ap_response(indicator, fps=config.one_ap_fps)
        measured = measure_transient(t, dff)
        one_ap[indicator] = (t, dff, measured)
        for key, cited in (("peak", ind.dff_1ap), ("half_decay", ind.half_decay),
                           ("time_to_peak", ind.time_to_peak)):
            metrics[f"one_ap_{key}_{indicator}"] = measured[key]
            metrics[f"one_ap_{key}_cited_{indicator}"] = cited
            metrics[f"one_ap_{key}_error_{indicator}"] = measured[key] / cited - 1
    _figures(run_dir, config, ar_results, s2f, one_ap, counts)
    return metrics


def _log_ticks(ax, values, axis: str = "x") -> None:
    """Log scale with one plain tick per value (no minor labels)."""
    from matplotlib.ticker import NullFormatter

    target = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    target.set_ticks(list(values), [f"{v:g}" for v in values])
    target.set_minor_formatter(NullFormatter())


def _figures(run_dir: RunDirectory, config: Config, ar_results, s2f, one_ap, counts) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    nu = 1.0 if 1.0 in ar_results else next(iter(ar_results))
    res = ar_results[nu]
    shown = slice(0, int(30 * config.fps))
    t = (np.arange(res["traces"].y.shape[1]) + 1) / config.fps
    ax = axes[0]
    ax.plot(t[shown], res["traces"].y[0, shown], lw=0.7, label=f"AR(1) trace, nu {nu:g}")
    ax.vlines(t[shown][res["traces"].counts[0, shown] > 0], -0.25, -0.15, color="k",
              label="true spikes")
    inferred = res["inferred"][0, shown]
    ax.plot(t[shown], -0.4 + 0.1 * inferred / max(inferred.max(), 1e-9), color="tab:red",
            lw=0.7, label="OASIS spikes")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("dF/F")
    ax.legend(fontsize=7, ncol=3, loc="upper right")
    ax.set_title(f"OASIS on the AR model: tau {np.median(res['tau']):.3f} s "
                 f"(true {config.tau_decay}), r {np.median(res['correlation']):.3f} "
                 f"(50-ms smoothing)", fontsize=9)
    ax = axes[1]
    levels = sorted(ar_results)
    ax.plot(levels, [np.median(ar_results[v]["correlation"]) for v in levels], "ko-",
            label="AR(1) model")
    for indicator in config.indicators:
        ax.plot(config.noise_levels, [s2f[indicator, v]["known"] for v in config.noise_levels],
                "o-", label=f"S2F {indicator}")
    ax.axhline(0.9, color="0.6", ls=":")
    _log_ticks(ax, sorted(set(levels) | set(config.noise_levels)))
    ax.set_xlabel("noise level nu")
    ax.set_ylabel("r (inferred vs true, smoothed)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    run_dir.save_figure(fig, "oasis_round_trip")

    fig, ax = plt.subplots(figsize=(5, 4))
    for indicator in config.indicators:
        ax.plot(config.noise_levels, [s2f[indicator, v]["noise_level"]
                                      for v in config.noise_levels], "o", label=indicator)
    lim = [min(config.noise_levels) * 0.8, max(config.noise_levels) * 1.2]
    ax.plot(lim, lim, "k", lw=0.7)
    ax.fill_between(lim, [v * 0.9 for v in lim], [v * 1.1 for v in lim], color="0.9")
    _log_ticks(ax, config.noise_levels)
    _log_ticks(ax, config.noise_levels, axis="y")
    ax.set_xlabel("requested noise level nu")
    ax.set_ylabel("measured (median over ROIs)")
    ax.legend(fontsize=8)
    ax.set_title("noise level met (band: +-10%)", fontsize=9)
    fig.tight_layout()
    run_dir.save_figure(fig, "noise_level")

    fig, ax = plt.subplots(figsize=(6, 4))
    for indicator, (t, dff, measured) in one_ap.items():
        ind = INDICATORS[indicator]
        line, = ax.plot(t, dff, label=f"{indicator}: peak {measured['peak']:.3f}, t1/2 "
                                      f"{measured['half_decay'] * 1000:.0f} ms")
        ax.plot([ind.time_to_peak], [ind.dff_1ap], "x", color=line.get_color())
        ax.plot([ind.time_to_peak + ind.half_decay], [ind.dff_1ap / 2], "+",
                color=line.get_color(), ms=10)
    ax.set_xlim(-0.05, 1.5)
    ax.set_xlabel("time after the AP (s)")
    ax.set_ylabel("dF/F")
    ax.set_title("1-AP responses (x: cited peak, +: cited half-decay)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    run_dir.save_figure(fig, "one_ap")


def summarize(metrics: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = ["calcium forward models:"]
    for key in sorted(k for k in metrics if k.startswith("ar_tau_error_nu")):
        nu = key[len("ar_tau_error_nu"):]
        lines.append(f"  AR nu {nu}: tau error {metrics[key]:+.3f}, r "
                     f"{metrics[f'ar_correlation_nu{nu}']:.3f}")
    lines.append(f"  noise level: largest error {metrics['noise_level_max_error']:.3f}")
    for key in sorted(k for k in metrics if k.startswith("one_ap_peak_error_")):
        ind = key[len("one_ap_peak_error_"):]
        lines.append(f"  {ind}: 1-AP peak {metrics[f'one_ap_peak_{ind}']:.3f} "
                     f"({metrics[key]:+.3f}), half-decay "
                     f"{metrics[f'one_ap_half_decay_{ind}'] * 1000:.1f} ms "
                     f"({metrics[f'one_ap_half_decay_error_{ind}']:+.3f})")
    return "\n".join(lines)
