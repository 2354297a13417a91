r"""``memcircuits figures cerebellum-beta``: the granular layer's effective beta per coding level.

SDM reads weight each stored memory by the number of hard locations (granule cells) active
for both the query and the memory's key. Bricken & Pehlevan (2021) showed these weights
approximate :math:`\mathrm{softmax}(\beta \cos)` with a :math:`\beta` set by the radius
(equivalently the coding level). Here the weights are measured in spikes:

1. For each coding level :math:`p`: full-address cells (Kanerva), the radius :math:`d`
   with :math:`P(\mathrm{Bin}(n, 1/2) \le d) \approx p` (Golgi-held first-volley code);
   selected-coordinate cells (``k`` claws, Jaeckel), unreliable MF->GrC release: a cell
   fires when :math:`k - t` of its matched inputs release, with the fewest mismatches
   :math:`t` and the release probability that give :math:`p`
   (:func:`models.intersection_selected.release_for_coding_level`); selected cells under
   asynchronous mossy fibres (the ``biological`` preset): the Golgi conductance that holds
   :math:`p` (:func:`circuits.cerebellum.coding.golgi_for_coding_level`), and the circuit's
   stochastic activation g(M) measured on independent random keys
   (:func:`circuits.cerebellum.selectivity.measure_activation`), which the theory takes.
2. Clustered patterns (``clusters`` bases, one variant at every distance
   ``0..D``) are presented to the granular layer; every within-cluster pair gives a
   spiking per-memory weight :math:`|A_i \cap A_j|` at its Hamming distance (a stochastic
   code: distance 0 from two presentations of each base).
3. The **effective beta** is the least-squares slope of :math:`\log \bar w(d_v)` on
   :math:`\cos(d_v) = 1 - 2 d_v / n` (:func:`mapping.measures.effective_beta`), over
   :math:`d_v = 0..d-1` (full) or the distances holding ``weight_mass`` of the exact weight
   (selected); the **theoretical beta** is the same regression on the exact expectation
   (:mod:`mapping.granule_theory`). ``effective_beta_ratio`` = effective / theoretical.
4. Normalised weights over the distances holding ``weight_mass`` of the exact weight:
   the largest :math:`|w_\mathrm{spiking} - w_\mathrm{softmax}|` with the theoretical beta
   (``weight_error_vs_softmax``) and against the exact expectation
   (``weight_error_vs_exact``).

Metrics per level ``p<percent>`` (e.g. ``p0.2``): ``radius`` (full) or ``inputs``,
``mismatches``, ``release_probability`` (selected), ``golgi_conductance_nS`` and
``activation_g<M>`` (g(M); asynchronous mossy fibres), ``coding_level``
(measured), ``effective_beta``, ``theoretical_beta``, ``effective_beta_ratio``,
``weight_error_vs_softmax``, ``weight_error_vs_exact``, ``effective_r_squared`` and
``theoretical_r_squared`` (:math:`R^2` of the log-overlap line on the cosine over the
distances holding ``weight_mass`` of the weight, spikes and theory), ``pairs``. Data:
``beta.json``
(per-distance means, standard errors, counts, exact expectation). Figure:
``effective_beta`` (weights vs distance per level; effective vs theoretical beta).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from brian2 import ms

from circuits.cerebellum.params import (
    CerebellumParams,
    GranuleParams,
    MossyFibreParams,
    derive,
)
from mapping.granule_theory import (
    at_coding_level,
    calibrate_level,
    check_cluster_fields,
    check_clustered_reads,
    granule_theory,
    measure_level,
)
from mapping.measures import (
    write_inputs,
)
from models.intersection_selected import threshold_activation
from models.rundir import RunDirectory, atomic_write_json

__all__ = ["Config", "level_label", "run", "summarize"]


@dataclass(frozen=True)
class Config:
    """Parameters of the effective-beta sweep over coding levels."""

    circuit: CerebellumParams = field(default_factory=lambda: CerebellumParams(
        backend="cpp_standalone",
        granule=GranuleParams(n=20000, coding_level=0.03),
        mossy=MossyFibreParams(stimulus=10 * ms)))
    #: coding levels p (fraction of granule cells active); each sets the radius (full
    #: design) or the release rule (selected design)
    coding_levels: tuple[float, ...] = (0.002, 0.004, 0.008, 0.016, 0.03)
    clusters: int = 8  #: base patterns, each with variants at distances 0..D
    weight_mass: float = 0.99  #: exact-weight mass defining the distances 0..D of the error
    tolerance: float = 0.15  #: ``abs(effective / theoretical - 1)`` counted as a match
    seed: int = 0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        if not self.coding_levels:
            raise ValueError("coding_levels must name at least one level")
        for level in self.coding_levels:
            if not 0 < level < 1:
                raise ValueError(f"coding_levels must lie in (0, 1), got {level}")
        if len(set(self.coding_levels)) != len(self.coding_levels):
            raise ValueError("coding_levels must not repeat")
        check_cluster_fields(self.clusters, self.weight_mass)
        if not 0 < self.tolerance < 1:
            raise ValueError("tolerance must lie in (0, 1)")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        # raises for circuits it cannot describe (asynchronous fibres: any valid activation
        # stands in for the one measured at run time)
        granule_theory(self.circuit, self.weight_mass, activation=threshold_activation(
            self.circuit.granule.inputs, 0) if self.asynchronous else None)
        for level in self.coding_levels:
            try:
                params = self.level_params(level)
                params.validate()
                derive(params)  # raises for an impossible level
            except ValueError as exc:
                raise ValueError(f"coding_levels: {level:g}: {exc}") from exc
        check_clustered_reads(self.level_params(max(self.coding_levels)), self.clusters)

    @property
    def asynchronous(self) -> bool:
        """Whether the mossy fibres fire asynchronously (the level is found by simulation)."""
        return self.circuit.mossy.firing != "regular"

    def level_params(self, level: float) -> CerebellumParams:
        """The circuit with granule coding level ``level``.

        Full design: the radius whose Hamming ball holds that fraction. Selected design
        (``k`` claws): unreliable MF->GrC release, the fewest tolerated mismatches and the
        release probability that give the level
        (:func:`models.intersection_selected.release_for_coding_level`). Asynchronous
        mossy fibres: the circuit as given (:func:`run` finds the Golgi conductance).
        """
        return at_coding_level(self.circuit, level)


def level_label(level: float) -> str:
    """Metric prefix of a coding level: ``p0.2`` for 0.2 %."""
    return f"p{100 * level:g}"


def run(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> dict[str, Any]:
    """Measure the effective beta at every coding level; save data and the figure."""
    config.validate()
    results: dict[float, dict[str, Any]] = {}
    for k, level in enumerate(config.coding_levels):
        if progress:
            print(f"coding level {100 * level:g}% ({k + 1}/{len(config.coding_levels)})",
                  flush=True)
        params, activation = calibrate_level(config.circuit, level, config.seed)
        results[level] = measure_level(params, config.clusters, config.weight_mass,
                                       config.seed, activation)
    write_inputs(run_dir, "cerebellum-beta",
                 {f"patterns_{level_label(lv)}": r["patterns"] for lv, r in results.items()},
                 seed=config.seed, clusters=config.clusters,
                 coding_levels=list(config.coding_levels))
    metrics: dict[str, Any] = {"n_granule": config.circuit.granule.n,
                               "address_bits": config.circuit.address_bits,
                               "levels": len(results)}
    table = {}
    for level, r in results.items():
        label = level_label(level)
        for m, g in enumerate(r["activation"] or ()):
            metrics[f"{label}_activation_g{m}"] = g
        for key in ("radius", "inputs", "mismatches", "release_probability",
                    "golgi_conductance_nS", "coding_level",
                    "effective_beta", "theoretical_beta", "effective_r_squared",
                    "theoretical_r_squared",
                    "effective_beta_ratio", "weight_error_vs_softmax",
                    "weight_error_vs_softmax_effective", "weight_error_vs_exact", "pairs",
                    "distances_holding_weight"):
            metrics[f"{label}_{key}"] = r[key]
        table[label] = {"coding_level_target": level, "radius": r["radius"],
                        "distance": np.arange(len(r["stats"]["mean"])),
                        "mean": r["stats"]["mean"], "sem": r["stats"]["sem"],
                        "pairs": r["stats"]["count"], "expected": r["expected"],
                        "activation": r["activation"]}
    ratios = np.array([r["effective_beta_ratio"] for r in results.values()])
    metrics["levels_within_tolerance"] = int(np.sum(np.abs(ratios - 1) <= config.tolerance))
    metrics["tolerance"] = config.tolerance
    metrics["max_abs_ratio_error"] = float(np.max(np.abs(ratios - 1)))
    metrics["max_weight_error_vs_softmax"] = float(
        max(r["weight_error_vs_softmax"] for r in results.values()))
    atomic_write_json(run_dir.file("beta.json"), table)
    run_dir.save_figure(_figure(config, results), "effective_beta")
    return metrics


def _figure(config: Config, results: dict[float, dict[str, Any]]) -> Any:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(results)))
    for color, (level, r) in zip(colors, results.items(), strict=True):
        w = r["weights"]
        axes[0].plot(w.distance, w.spiking, "o", ms=3, color=color,
                     label=f"{100 * level:g}% ({_rule(r)}) spikes")
        axes[0].plot(w.distance, w.softmax, "-", lw=1, color=color)
    axes[0].set_yscale("log")
    axes[0].set_xlabel(r"Hamming distance $d_v$ between query and key")
    axes[0].set_ylabel("normalised per-memory weight")
    axes[0].set_title("spiking weights (dots) vs softmax with theoretical beta (lines)",
                      fontsize=9)
    axes[0].legend(fontsize=7)
    levels = np.array(list(results)) * 100
    theory = np.array([r["theoretical_beta"] for r in results.values()])
    eff = np.array([r["effective_beta"] for r in results.values()])
    axes[1].plot(levels, theory, "k-", label="theoretical beta (exact intersection)")
    axes[1].fill_between(levels, theory * (1 - config.tolerance),
                         theory * (1 + config.tolerance), color="0.85",
                         label=f"+-{100 * config.tolerance:g}%")
    axes[1].plot(levels, eff, "o", color="tab:red", label="effective beta (spikes)")
    axes[1].set_xscale("log")
    axes[1].set_xticks(levels, [f"{x:g}" for x in levels])
    axes[1].minorticks_off()
    axes[1].set_xlabel("granule coding level (%)")
    axes[1].set_ylabel(r"$\beta$")
    axes[1].set_title(f"{config.circuit.granule.n} granule cells, n = "
                      f"{config.circuit.address_bits}", fontsize=9)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _rule(values: dict[str, Any], prefix: str = "") -> str:
    """``radius d`` (full design) or ``k - t of k, P_rel`` (selected) for labels."""
    if values.get(f"{prefix}radius") is not None:
        return f"radius {values[f'{prefix}radius']}"
    if values.get(f"{prefix}golgi_conductance_nS") is not None:
        return (f"{values[f'{prefix}inputs']} claws, asynchronous MFs, GoC "
                f"{values[f'{prefix}golgi_conductance_nS']:.2f} nS")
    k, t = values[f"{prefix}inputs"], values[f"{prefix}mismatches"]
    return f"{k - t} of {k}, P_rel {values[f'{prefix}release_probability']:.2f}"


def summarize(metrics: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = [f"effective beta of {metrics['n_granule']} granule cells "
             f"(n = {metrics['address_bits']}):"]
    for key in sorted(k for k in metrics if k.endswith("_effective_beta_ratio")):
        label = key.removesuffix("_effective_beta_ratio")
        lines.append(
            f"  {label[1:]:>5s}%: {_rule(metrics, label + '_')}, effective "
            f"{metrics[f'{label}_effective_beta']:.3f} vs theoretical "
            f"{metrics[f'{label}_theoretical_beta']:.3f} (ratio {metrics[key]:.3f}); "
            f"R^2 {metrics[f'{label}_effective_r_squared']:.3f} (theory "
            f"{metrics[f'{label}_theoretical_r_squared']:.3f}); "
            f"max |w - softmax| {metrics[f'{label}_weight_error_vs_softmax']:.4f}")
    lines.append(f"  {metrics['levels_within_tolerance']}/{metrics['levels']} levels within "
                 f"{100 * metrics['tolerance']:g}%")
    return "\n".join(lines)
