r"""``memcircuits figures granule-regimes``: the granule layer's attention in three regimes.

The same question in each regime of the granular layer (see the cerebellum user guide): how
many granule cells does a key share with a query :math:`d_v` bits away, against the exact
theory and against the softmax it approximates?

- ``full_volleys``: full-address granule cells (read all ``n`` bits, two rails each)
  driven by synchronous volleys: Kanerva's limit, a Hamming ball of the radius that gives
  the coding level;
- ``claws_volleys``: four-claw granule cells (selected coordinates), volleys, unreliable
  release setting the coding level;
- ``claws_asynchronous``: the ``biological`` preset (four claws, gamma-renewal mossy fibres
  with a tonic background, slow EPSC, rate-coded Golgi loop), the Golgi conductance found
  for the coding level and the activation g(M) measured on independent keys.

Each regime is measured as ``figures cerebellum-beta`` measures one level
(:func:`mapping.granule_theory.measure_level`): clustered patterns, per-distance mean
overlap (a stochastic code: distance 0 across two presentations), the effective beta
(least squares of log overlap on the cosine) against the theory's, R^2 of both lines over
the distances holding ``weight_mass`` of the weight.

Metrics per regime ``<regime>_``: ``coding_level``, ``effective_beta``,
``theoretical_beta``, ``effective_beta_ratio``, ``effective_r_squared``,
``theoretical_r_squared``, ``weight_error_vs_softmax``, ``distances_holding_weight``. Data:
``regimes.json`` (per-distance means, standard errors, exact expectation). Figure:
``regimes`` (one panel per regime: spikes, exact theory, and the softmax line fitted to
the theory).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from brian2 import ms

from circuits.cerebellum.params import CerebellumParams, GranuleParams, MossyFibreParams
from mapping.granule_theory import (
    calibrate_level,
    check_cluster_fields,
    check_clustered_reads,
    measure_level,
)
from mapping.measures import effective_beta, hamming_to_cosine, write_inputs
from models.rundir import RunDirectory, atomic_write_json

__all__ = ["REGIMES", "Config", "regime_circuit", "run", "summarize"]

#: regime name -> label for the figure
REGIMES: dict[str, str] = {
    "full_volleys": "full-address cells, volleys (Kanerva)",
    "claws_volleys": "four claws, volleys",
    "claws_asynchronous": "four claws, asynchronous MFs (biological)",
}


@dataclass(frozen=True)
class Config:
    """Parameters of the three-regime comparison."""

    address_bits: int = 64  #: n
    n_granule: int = 14720  #: r, every regime (the biological count for 64 bits)
    coding_level: float = 0.02  #: p, every regime
    clusters: int = 6  #: base patterns, each with variants at distances 0..D
    weight_mass: float = 0.99  #: weight mass defining the compared distances 0..D
    backend: str = "cython"  #: Brian2 backend of every circuit
    seed: int = 0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        if not isinstance(self.address_bits, int) or self.address_bits < 8:
            raise ValueError(f"address_bits must be an integer >= 8, got {self.address_bits!r}")
        if not isinstance(self.n_granule, int) or self.n_granule < 100:
            raise ValueError(f"n_granule must be an integer >= 100, got {self.n_granule!r}")
        if not 0 < self.coding_level < 1 / 16:
            raise ValueError(f"coding_level must lie in (0, 0.0625) (four claws all on), "
                             f"got {self.coding_level}")
        check_cluster_fields(self.clusters, self.weight_mass)
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        for name in REGIMES:
            try:
                regime_circuit(self, name).validate()
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from exc
        check_clustered_reads(regime_circuit(self, "claws_asynchronous"), self.clusters, "")


def regime_circuit(config: Config, name: str) -> CerebellumParams:
    """The circuit of regime ``name`` before its coding level is set."""
    base = CerebellumParams(address_bits=config.address_bits, backend=config.backend)
    if name == "full_volleys":
        return replace(base, granule=GranuleParams(n=config.n_granule,
                                                   coding_level=config.coding_level),
                       mossy=MossyFibreParams(stimulus=10 * ms))
    if name == "claws_volleys":
        return replace(base, granule=GranuleParams(n=config.n_granule, design="selected",
                                                   inputs=4, coding_level=None),
                       mossy=MossyFibreParams(stimulus=10 * ms))
    if name == "claws_asynchronous":
        bio = base.with_preset("biological")
        return replace(bio, granule=replace(bio.granule, n=config.n_granule))
    raise ValueError(f"regime must be one of {', '.join(REGIMES)}, got {name!r}")


def run(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> dict[str, Any]:
    """Measure every regime at the coding level; save data and the figure."""
    config.validate()
    results: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(REGIMES):
        if progress:
            print(f"{REGIMES[name]} ({k + 1}/{len(REGIMES)})", flush=True)
        params, activation = calibrate_level(regime_circuit(config, name),
                                             config.coding_level, config.seed)
        results[name] = measure_level(params, config.clusters, config.weight_mass,
                                      config.seed, activation)
    write_inputs(run_dir, "granule-regimes",
                 {f"patterns_{name}": r["patterns"] for name, r in results.items()},
                 seed=config.seed, clusters=config.clusters, coding_level=config.coding_level)
    metrics: dict[str, Any] = {"n_granule": config.n_granule,
                               "address_bits": config.address_bits,
                               "coding_level_target": config.coding_level}
    table = {}
    for name, r in results.items():
        for key in ("coding_level", "effective_beta", "theoretical_beta",
                    "effective_beta_ratio", "effective_r_squared", "theoretical_r_squared",
                    "weight_error_vs_softmax", "distances_holding_weight"):
            metrics[f"{name}_{key}"] = r[key]
        table[name] = {"distance": np.arange(len(r["stats"]["mean"])),
                       "mean": r["stats"]["mean"], "sem": r["stats"]["sem"],
                       "expected": r["expected"], "activation": r["activation"],
                       "theoretical_beta": r["theoretical_beta"],
                       "effective_beta": r["effective_beta"]}
    atomic_write_json(run_dir.file("regimes.json"), table)
    run_dir.save_figure(_figure(config, results), "regimes")
    return metrics


def _figure(config: Config, results: dict[str, dict[str, Any]]) -> Any:
    """Per regime: mean overlap (dots, sem bars), exact theory, softmax with its beta."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.8), sharey=False)
    for ax, (name, r) in zip(np.atleast_1d(axes), results.items(), strict=True):
        last = r["distances_holding_weight"]
        d = np.arange(last + 1)
        mean, sem = r["stats"]["mean"][: last + 1], r["stats"]["sem"][: last + 1]
        ax.errorbar(d, mean, yerr=sem, fmt="o", ms=3, color="tab:red", lw=0.8,
                    label="spikes")
        ax.plot(d, r["expected"][: last + 1], "k-", lw=1.2, label="exact theory")
        # the softmax the theory approximates: its least-squares line in the cosine
        line = effective_beta(r["expected"], config.address_bits, range(last + 1))
        cos = hamming_to_cosine(d, config.address_bits)
        ax.plot(d, np.exp(line.intercept + line.beta * cos), "--", color="tab:blue", lw=1.2,
                label=f"softmax, beta {line.beta:.2f}")
        ax.set_yscale("log")
        ax.set_xlabel(r"key-query distance $d_v$ (bits)")
        ax.set_title(f"{REGIMES[name]}\neffective beta {r['effective_beta']:.2f}, "
                     f"R$^2$ {r['effective_r_squared']:.3f}", fontsize=9)
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("granule cells active for key and query")
    fig.suptitle(f"{config.n_granule} granule cells, n = {config.address_bits}, coding level "
                 f"{100 * config.coding_level:g}%", fontsize=10)
    fig.tight_layout()
    return fig


def summarize(metrics: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = [f"granule-layer attention in three regimes ({metrics['n_granule']} cells, n = "
             f"{metrics['address_bits']}, coding level "
             f"{100 * metrics['coding_level_target']:g}%):"]
    for name in REGIMES:
        lines.append(
            f"  {REGIMES[name]}: level {100 * metrics[f'{name}_coding_level']:.2f}%, effective "
            f"beta {metrics[f'{name}_effective_beta']:.3f} vs theory "
            f"{metrics[f'{name}_theoretical_beta']:.3f} (ratio "
            f"{metrics[f'{name}_effective_beta_ratio']:.3f}), R^2 "
            f"{metrics[f'{name}_effective_r_squared']:.3f}")
    return "\n".join(lines)
