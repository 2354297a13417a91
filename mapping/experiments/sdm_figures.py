r"""``memcircuits figures sdm``: SDM intersection weights vs softmax attention; optimal radii.

Reproduces the core figures of Bricken & Pehlevan (2021), "Attention approximates sparse
distributed memory", from exact integer arithmetic:

1. ``figures/intersection_vs_softmax.png``: for each radius :math:`d`, the normalised
   intersection weight of a stored pattern at Hamming distance :math:`d_v` from the query
   next to :math:`\mathrm{softmax}(\beta \cos)` with the fitted :math:`\beta`, on linear and
   log scales (plus the continuous hyperspherical-cap SDM and the Taylor lower bound).
2. ``figures/optimal_radius.png``: the three optimal-radius criteria against the radius
   (signal-to-noise ratio, memory capacity, critical distance) and the fitted :math:`\beta`
   per radius next to the range of betas learned by key-query-normalised transformers.
3. ``figures/critical_distance_curves.png``: convergence of iterated reads against query
   noise for every radius swept.

Weight normalisation (used for the figure and the ``max_abs_weight_error`` metrics): one
stored pattern at each distance :math:`d_v = 0..n` from the query, so the normalised SDM
weights are :math:`w_I(d_v) = I(d_v) / \sum_{d'=0}^{n} I(d')` and the attention weights are
:math:`w_S(d_v) = e^{\beta \cos d_v} / \sum_{d'=0}^{n} e^{\beta \cos d'}` with
:math:`\cos d_v = 1 - 2 d_v / n`. The error is :math:`\max |w_I - w_S|` over the distances
that hold ``weight_mass`` (99%) of the intersection weight: :math:`d_v = 0..D` with
:math:`D` the smallest distance whose cumulative :math:`w_I` reaches it (:math:`w_I` is
non-increasing in :math:`d_v`, so these are the heaviest distances).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from mapping.measures import normalised_weights, weight_error
from models.attention import beta_softmax
from models.intersection import (
    fit_beta_line,
    log_activation_probability,
    log_continuous_intersection_from_hamming,
    memory_capacity,
    snr_optimal_probability,
    snr_squared,
    taylor_beta_bound,
)
from models.intersection_selected import (
    fit_beta_selected,
    optimal_inputs,
    selected_activation_probability,
)
from models.pattern_sdm import CriticalDistanceCurve, critical_distance_sweep
from models.radius import optimal_radius
from models.rundir import RunDirectory

__all__ = ["Config", "run", "summarize"]

#: Range of betas learned by key-query-normalised transformers (SCIENCE.md §1: 90 heads,
#: about 10 to 25, mean ~15.7; Henry et al. 2020 as analysed by Bricken & Pehlevan 2021).
LEARNED_BETA_RANGE = (10.0, 25.0)
LEARNED_BETA_MEAN = 15.7


@dataclass(frozen=True)
class Config:
    """Parameters of the SDM figures.

    Defaults: the transformer setting of Bricken & Pehlevan 2021, n = 64 = attention head dimension,
    m = 1024 = context length, r = 2^n.
    """

    n: int = 64  #: address length n (bits); head dimension of GPT-2 style attention
    radii: tuple[int, ...] = (5, 11, 15)  #: Hamming radii d shown (d*_Mem, d*_SNR, d*_CD, B&P)
    m: int = 1024  #: stored patterns (context length), for the optimal radii
    neurons: int = 2 ** 64  #: hard locations r (exact int; 2**64 = every address for n=64)
    weight_mass: float = 0.99  #: intersection-weight mass whose distances enter the error
    retrieval_probability: float = 0.5  #: whole-pattern retrieval probability, memory crit.
    cd_trials: int = 100  #: noisy queries per noise level (critical distance)
    cd_max_iterations: int = 10  #: iterated reads per query (critical distance)
    cd_threshold: float = 0.5  #: convergence fraction defining the critical distance
    cd_radii: tuple[int, ...] = ()  #: radii swept for the critical distance (empty: 0..n//2)
    seed: int = 0  #: seed of the critical-distance patterns and queries
    num_threads: int = 1  #: torch CPU threads (applied by the CLI; 0: torch default)
    #: k: inputs per selected-coordinate cell (Jaeckel 1989), all k must match; their beta
    #: and the optimal k are reported beside the radii (4: the granule cell's claws)
    inputs: tuple[int, ...] = (4, 6, 8)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        if self.n < 3:
            raise ValueError(f"n must be >= 3, got {self.n}")
        if not self.radii:
            raise ValueError("radii must list at least one radius")
        for d in self.radii:
            if not 2 <= d <= self.n:
                raise ValueError(f"radii must lie in 2..n ({self.n}) so that beta can be "
                                 f"fitted over d_v = 0..d-1, got {d}")
        if len(set(self.radii)) != len(self.radii):
            raise ValueError(f"radii must not repeat, got {list(self.radii)}")
        if self.m < 1:
            raise ValueError(f"m must be >= 1, got {self.m}")
        if self.neurons < 1:
            raise ValueError(f"neurons must be >= 1, got {self.neurons}")
        if not 0.0 < self.weight_mass <= 1.0:
            raise ValueError(f"weight_mass must lie in (0, 1], got {self.weight_mass}")
        if not 0.0 < self.retrieval_probability < 1.0:
            raise ValueError(f"retrieval_probability must lie in (0, 1), "
                             f"got {self.retrieval_probability}")
        if self.cd_trials < 1:
            raise ValueError(f"cd_trials must be >= 1, got {self.cd_trials}")
        if self.cd_max_iterations < 1:
            raise ValueError(f"cd_max_iterations must be >= 1, got {self.cd_max_iterations}")
        if not 0.0 < self.cd_threshold <= 1.0:
            raise ValueError(f"cd_threshold must lie in (0, 1], got {self.cd_threshold}")
        for d in self.cd_radii:
            if not 0 <= d <= self.n:
                raise ValueError(f"cd_radii must lie in 0..n ({self.n}), got {d}")
        if len(set(self.cd_radii)) != len(self.cd_radii):
            raise ValueError(f"cd_radii must not repeat, got {list(self.cd_radii)}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        for k in self.inputs:
            if not 1 <= k <= self.n:
                raise ValueError(f"inputs must lie in 1..n ({self.n}), got {k}")
        if len(set(self.inputs)) != len(self.inputs):
            raise ValueError(f"inputs must not repeat, got {list(self.inputs)}")
        if self.num_threads < 0:
            raise ValueError(f"num_threads must be >= 0, got {self.num_threads}")
        self._check_memory()

    def _check_memory(self) -> None:
        """Refuse sizes whose critical-distance sweep would not fit the memory budget.

        ``m`` patterns and ``L * cd_trials`` queries of ``n`` bits (``L`` noise levels, ``n // 2 +
        1``), their ``(L * cd_trials, m)`` dot products, a few copies each.
        """
        from models._memory import refuse_over_budget

        queries = (self.n // 2 + 1) * self.cd_trials
        terms = {"n": self.n * self.m + queries * self.n, "cd_trials": queries * self.m}
        need = 4 * 8 * float(sum(terms.values()))
        name = max(terms, key=terms.__getitem__)
        refuse_over_budget(name, getattr(self, name), need,
                           f"{queries:.3g} queries of {self.n} bits against m = {self.m} "
                           f"patterns in the critical-distance sweep")


def _progress_bar(total: int, enabled: bool, description: str) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="radius", leave=False)


def run(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> dict[str, Any]:
    """Compute the fits, errors and optimal radii, save the figures, return the metrics."""
    n, m, neurons = config.n, config.m, config.neurons
    metrics: dict[str, Any] = {"n": n, "m": m, "log2_neurons": math.log2(neurons)}

    # ---- fitted betas and weight errors for the radii shown --------------------------------
    panels = []
    for d in config.radii:
        ols = fit_beta_line(n, d, neurons)
        bricken = fit_beta_line(n, d, neurons, estimator="bricken2021")
        continuous = fit_beta_line(n, d, neurons, geometry="continuous")
        taylor = taylor_beta_bound(n, d)
        w_sdm, w_soft = normalised_weights(n, d, ols.beta)
        error, last = weight_error(w_sdm, w_soft, config.weight_mass)
        _, w_soft_bricken = normalised_weights(n, d, bricken.beta)
        error_bricken, _ = weight_error(w_sdm, w_soft_bricken, config.weight_mass)
        _, w_soft_taylor = normalised_weights(n, d, taylor)
        error_taylor, _ = weight_error(w_sdm, w_soft_taylor, config.weight_mass)
        tag = f"n{n}_r{d}"
        metrics.update({
            f"beta_{tag}": ols.beta,
            f"beta_intercept_{tag}": ols.intercept,
            f"beta_bricken2021_{tag}": bricken.beta,
            f"beta_continuous_{tag}": continuous.beta,
            f"taylor_beta_bound_{tag}": taylor,
            f"max_abs_weight_error_{tag}": error,
            f"max_abs_weight_error_bricken2021_{tag}": error_bricken,
            f"max_abs_weight_error_taylor_{tag}": error_taylor,
            f"weight_mass_last_distance_{tag}": last,
        })
        log_cont = log_continuous_intersection_from_hamming(n, d, np.arange(n + 1))
        panels.append({"d": d, "ols": ols, "bricken": bricken, "continuous": continuous,
                       "taylor": taylor, "w_sdm": w_sdm, "w_soft": w_soft,
                       "w_soft_bricken": w_soft_bricken, "w_soft_taylor": w_soft_taylor,
                       "w_cont": beta_softmax(log_cont), "last": last})

    # ---- optimal radii ----------------------------------------------------------------------
    d_snr = optimal_radius(n, m, neurons, "snr")
    d_mem = optimal_radius(n, m, neurons, "memory",
                           retrieval_probability=config.retrieval_probability)
    bar = _progress_bar(n // 2 + 1 if not config.cd_radii else len(config.cd_radii),
                        progress, "critical distance")
    start = time.perf_counter()
    sweep = critical_distance_sweep(
        n, m, list(config.cd_radii) or None, neurons, trials=config.cd_trials,
        max_iterations=config.cd_max_iterations, threshold=config.cd_threshold,
        seed=config.seed, callback=(lambda _curve: bar.update(1)) if bar is not None else None)
    if bar is not None:
        bar.close()
    cd_time = time.perf_counter() - start
    d_cd = sweep.optimal_radius
    best_curve = next(c for c in sweep.curves if c.radius == d_cd)
    metrics.update({
        "optimal_radius_snr": d_snr,
        "optimal_radius_memory": d_mem,
        "optimal_radius_critical_distance": d_cd,
        "snr_optimal_probability": snr_optimal_probability(m, neurons),
        "activation_probability_snr": math.exp(log_activation_probability(n, d_snr)),
        "critical_distance_at_optimum": best_curve.critical_distance,
        "critical_distance_interpolated_at_optimum": best_curve.critical_distance_interpolated,
        "critical_distance_time_s": round(cd_time, 3),
    })
    for name, d in (("snr", d_snr), ("memory", d_mem), ("critical_distance", d_cd)):
        if d >= 2:
            metrics[f"beta_at_optimal_radius_{name}"] = fit_beta_line(n, d, neurons).beta
            metrics[f"beta_bricken2021_at_optimal_radius_{name}"] = fit_beta_line(
                n, d, neurons, estimator="bricken2021").beta
    for curve in sweep.curves:
        if curve.radius in config.radii:
            metrics[f"critical_distance_n{n}_r{curve.radius}"] = curve.critical_distance

    metrics.update(_selected_metrics(config))

    # ---- figures ----------------------------------------------------------------------------
    run_dir.save_figure(_figure_weights(config, panels), "intersection_vs_softmax")
    run_dir.save_figure(_figure_optimal(config, sweep.curves, d_snr, d_mem, d_cd),
                        "optimal_radius")
    run_dir.save_figure(_figure_curves(config, sweep.curves, d_cd), "critical_distance_curves")
    return metrics


def _selected_metrics(config: Config) -> dict[str, Any]:
    """Selected-coordinate design (Jaeckel): beta per ``k`` and the optimal ``k``."""
    n, out = config.n, {}
    optimal = {criterion: optimal_inputs(n, config.m, config.neurons, criterion,
                                         retrieval_probability=config.retrieval_probability)
               for criterion in ("snr", "memory")}
    for criterion, k in optimal.items():
        out[f"optimal_inputs_{criterion}"] = k
    for k in sorted({*config.inputs, *optimal.values()}):
        fit = fit_beta_selected(n, k, weight_mass=config.weight_mass)
        tag = f"n{n}_k{k}"
        out.update({
            f"beta_selected_{tag}": fit.beta,
            f"r_squared_selected_{tag}": fit.r_squared,
            f"weight_mass_last_distance_selected_{tag}": fit.last_distance,
            f"activation_probability_selected_{tag}": selected_activation_probability(k),
        })
    return out


def _figure_weights(config: Config, panels: list[dict[str, Any]]) -> Any:
    import matplotlib.pyplot as plt

    n = config.n
    fig, axes = plt.subplots(2, len(panels), figsize=(4.6 * len(panels), 7.2), squeeze=False)
    for col, panel in enumerate(panels):
        d, last = panel["d"], panel["last"]
        shown = min(n, 2 * d + 2)
        x = np.arange(shown + 1)
        for row, log_scale in enumerate((False, True)):
            ax = axes[row, col]
            ax.axvspan(-0.5, last + 0.5, color="0.92", zorder=0,
                       label=f"{config.weight_mass:.0%} of SDM weight")
            ax.plot(x, panel["w_sdm"][x], "o", color="C0", ms=5,
                    label="SDM, exact binary intersection")
            ax.plot(x, panel["w_cont"][x], "-", color="C2", lw=1,
                    label=f"SDM, continuous caps (β fit {panel['continuous'].beta:.1f})")
            ax.plot(x, panel["w_soft"][x], "-", color="C1", lw=2,
                    label=f"softmax, fitted β = {panel['ols'].beta:.2f}")
            ax.plot(x, panel["w_soft_bricken"][x], "--", color="C3", lw=1.2,
                    label=f"softmax, B&P-code β = {panel['bricken'].beta:.2f}")
            ax.plot(x, panel["w_soft_taylor"][x], ":", color="C4", lw=1.5,
                    label=f"softmax, Taylor bound β = {panel['taylor']:.2f}")
            if log_scale:
                ax.set_yscale("log")
                positive = panel["w_sdm"][x][panel["w_sdm"][x] > 0]
                ax.set_ylim(max(positive.min() / 10, 1e-300), 1.5)
                ax.set_xlabel("Hamming distance between pattern and query $d_v$")
            else:
                ax.set_title(f"n = {n}, d = {d}")
            if col == 0:
                ax.set_ylabel("normalised weight" + (" (log)" if log_scale else ""))
            if row == 0:
                ax.legend(fontsize=6.5, loc="upper right")
    fig.suptitle("SDM read weights vs attention softmax(β cos) "
                 "(one pattern per distance, weights sum to 1 over $d_v$ = 0..n)", fontsize=10)
    fig.tight_layout()
    return fig


def _figure_optimal(config: Config, curves: tuple[CriticalDistanceCurve, ...], d_snr: int,
                    d_mem: int, d_cd: int) -> Any:
    import matplotlib.pyplot as plt

    n, m, neurons = config.n, config.m, config.neurons
    radii = np.arange(n // 2 + 1)
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))

    ax = axes[0, 0]
    snr = np.array([snr_squared(n, m, int(d), neurons) for d in radii])
    ax.semilogy(radii, np.sqrt(np.maximum(snr, 1e-300)), "o-", ms=3)
    ax.axvline(d_snr, color="C3", ls="--", label=f"$d^*_{{SNR}}$ = {d_snr}")
    ax.set_xlabel("radius d")
    ax.set_ylabel("SNR of a noise-free read")
    ax.set_title(f"signal-to-noise (m = {m}, r = 2^{math.log2(neurons):.4g})")
    ax.legend()

    ax = axes[0, 1]
    capacity = np.array([memory_capacity(n, int(d), neurons,
                                         retrieval_probability=config.retrieval_probability)
                         for d in radii])
    positive = capacity > 0
    ax.semilogy(radii[positive], capacity[positive], "o-", ms=3)
    ax.axvline(d_mem, color="C3", ls="--", label=f"$d^*_{{Mem}}$ = {d_mem}")
    ax.set_xlabel("radius d")
    ax.set_ylabel("$m_{max}$ (patterns)")
    ax.set_title(f"memory capacity ({config.retrieval_probability:.0%} whole-pattern recall)")
    ax.legend()

    ax = axes[1, 0]
    cd_radii = [c.radius for c in curves]
    ax.plot(cd_radii, [c.critical_distance for c in curves], "o", ms=4, label="integer")
    ax.plot(cd_radii, [c.critical_distance_interpolated for c in curves], "-", lw=1.2,
            label=f"interpolated {config.cd_threshold:.0%} crossing")
    ax.axvline(d_cd, color="C3", ls="--", label=f"$d^*_{{CD}}$ = {d_cd}")
    ax.set_xlabel("radius d")
    ax.set_ylabel("critical distance (bits of query noise)")
    ax.set_title(f"critical distance ({config.cd_trials} trials per noise level)")
    ax.legend(fontsize=8)

    ax = axes[1, 1]
    fit_radii = np.arange(2, n // 2 + 1)
    fitted = [fit_beta_line(n, int(d)).beta for d in fit_radii]
    ax.plot(fit_radii, fitted, "-", color="C1", label="fitted β (least squares)")
    ax.plot(fit_radii, [fit_beta_line(n, int(d), estimator="bricken2021").beta
                        for d in fit_radii], "--", color="C3", label="β, B&P public code")
    ax.plot(fit_radii, [taylor_beta_bound(n, int(d)) for d in fit_radii], ":", color="C4",
            label="Taylor bound $(n-2d)^2/4n$")
    ax.axhspan(*LEARNED_BETA_RANGE, color="C2", alpha=0.15,
               label="β learned by QK-norm transformers")
    ax.axhline(LEARNED_BETA_MEAN, color="C2", lw=0.8)
    for name, d in (("SNR", d_snr), ("Mem", d_mem), ("CD", d_cd)):
        ax.axvline(d, color="0.5", lw=0.8, ls="--")
        ax.text(d, 0.97, f"$d^*_{{{name}}}$", transform=ax.get_xaxis_transform(),
                fontsize=8, ha="center", va="top")
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.5 * min(fitted))  # the Taylor bound falls to 0 at d = n/2
    ax.set_xlabel("radius d")
    ax.set_ylabel("β")
    ax.set_title(f"β per radius (n = {n})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _figure_curves(config: Config, curves: tuple[CriticalDistanceCurve, ...], d_cd: int) -> Any:
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    cmap = plt.get_cmap("viridis")
    radii = [c.radius for c in curves]
    norm = Normalize(vmin=min(radii), vmax=max(max(radii), min(radii) + 1))
    highlighted = [d for d in (*config.radii, d_cd) if d in radii]
    for curve in curves:
        if curve.radius not in highlighted:
            ax.plot(curve.noise, curve.success, "-", lw=0.8, color=cmap(norm(curve.radius)))
    colours = iter(["C0", "C1", "C2", "C4", "C5", "C6"])
    for curve in curves:
        if curve.radius in highlighted:
            optimum = curve.radius == d_cd
            label = f"d = {curve.radius}" + (" ($d^*_{CD}$)" if optimum else "")
            ax.plot(curve.noise, curve.success, "-", lw=2.4 if optimum else 1.8,
                    color="C3" if optimum else next(colours), label=label, zorder=3)
    ax.axhline(config.cd_threshold, color="0.4", ls=":",
               label=f"{config.cd_threshold:.0%} threshold")
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="radius d (thin lines)")
    ax.set_xlabel("query noise (bits flipped)")
    ax.set_ylabel("fraction converging to the stored pattern")
    ax.set_title(f"iterated pattern-based SDM reads, n = {config.n}, m = {config.m}, "
                 f"{config.cd_trials} trials per level")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


_BETA_KEY = re.compile(r"^beta_n(\d+)_r(\d+)$")
_SELECTED_KEY = re.compile(r"^beta_selected_n(\d+)_k(\d+)$")


def summarize(metrics: dict[str, Any]) -> str:
    """A short table: betas and weight errors per radius, then the optimal radii."""
    rows = sorted((int(k.group(1)), int(k.group(2))) for k in map(_BETA_KEY.match, metrics)
                  if k)
    lines = [" n   d   beta(LS)  beta(B&P)  beta(cont)  Taylor  max|w_I-w_S|"]
    for n, d in rows:
        tag = f"n{n}_r{d}"
        lines.append(f"{n:>2} {d:>3} {metrics[f'beta_{tag}']:>9.2f} "
                     f"{metrics.get(f'beta_bricken2021_{tag}', math.nan):>10.2f} "
                     f"{metrics.get(f'beta_continuous_{tag}', math.nan):>11.2f} "
                     f"{metrics.get(f'taylor_beta_bound_{tag}', math.nan):>7.2f} "
                     f"{metrics.get(f'max_abs_weight_error_{tag}', math.nan):>13.4f}")
    selected = sorted((int(k.group(1)), int(k.group(2)))
                      for k in map(_SELECTED_KEY.match, metrics) if k)
    if selected:
        lines.append(" n   k  (selected coordinates)  p        beta(LS)  R^2     last d")
        for n, k in selected:
            tag = f"n{n}_k{k}"
            lines.append(f"{n:>2} {k:>3} {'':>22} "
                         f"{metrics[f'activation_probability_selected_{tag}']:<8.3g} "
                         f"{metrics[f'beta_selected_{tag}']:>8.2f} "
                         f"{metrics[f'r_squared_selected_{tag}']:>7.4f} "
                         f"{metrics[f'weight_mass_last_distance_selected_{tag}']:>6}")
    lines.append(f"optimal radius: SNR {metrics.get('optimal_radius_snr')}, "
                 f"memory {metrics.get('optimal_radius_memory')}, "
                 f"critical distance {metrics.get('optimal_radius_critical_distance')} "
                 f"(critical distance "
                 f"{metrics.get('critical_distance_interpolated_at_optimum', math.nan):.2f} "
                 f"bits)")
    if "optimal_inputs_snr" in metrics:
        lines.append(f"optimal inputs k (selected coordinates): SNR "
                     f"{metrics['optimal_inputs_snr']}, memory "
                     f"{metrics['optimal_inputs_memory']}")
    return "\n".join(lines)
