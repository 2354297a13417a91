r"""``memcircuits figures cerebellum-intersection``: granule overlaps vs exact theory.

The number of granule cells active for both of two patterns at Hamming distance
:math:`d_v` should equal, on average over pattern pairs, its exact expectation
(:func:`mapping.granule_theory.granule_theory`): for full-address cells the intersection of
two radius-:math:`d` balls scaled to the circuit's ``r`` granule cells,
:math:`E(d_v) = r\, I(n, d, d_v) / 2^n`; for selected-coordinate cells (``k`` claws) the
hypergeometric overlap :math:`r\, q(d_v)` of :mod:`models.intersection_selected`.

Protocol: ``clusters`` random base patterns, each with variants at every distance
``0..D`` (``D``: the largest distance among those holding ``weight_mass`` of the
expected weight, one pattern per distance as in ``figures sdm``). All patterns are
presented to the granular layer (mossy fibres, granule and Golgi cells); every pair of
patterns within a cluster contributes its overlap to the bin of its actual distance. Pairs
generated this way are, conditioned on their distance, uniform over all pairs at that
distance (the construction is invariant under bit permutations and translations), so the
bin means are unbiased estimates of :math:`E(d_v)`.

Metrics: ``max_relative_error`` over distances ``0..D`` (the quantity that must stay below
0.1), ``max_relative_error_z`` (the same error in units of the bin's standard error),
``radius`` (full design) or ``inputs`` (selected), ``pairs``, ``effective_beta`` (least
squares of the log mean overlap on the cosine, :func:`mapping.measures.effective_beta`)
next to ``theoretical_beta`` (the same fit to the exact expectation) and their ratio; per
distance ``overlap_mean_d<k>`` and ``overlap_expected_d<k>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from brian2 import ms

from circuits.cerebellum.params import CerebellumParams, GranuleParams, MossyFibreParams
from mapping.granule_theory import (
    check_cluster_fields,
    check_clustered_reads,
    granule_theory,
    measure_overlaps,
)
from mapping.measures import effective_beta
from models.rundir import RunDirectory, atomic_write_json
from models.seeding import child_seed

__all__ = ["Config", "run", "summarize"]


@dataclass(frozen=True)
class Config:
    """Parameters of the intersection experiment."""

    circuit: CerebellumParams = field(default_factory=lambda: CerebellumParams(
        backend="cpp_standalone",
        granule=GranuleParams(n=10000, coding_level=0.03),
        mossy=MossyFibreParams(stimulus=10 * ms)))
    clusters: int = 12  #: base patterns, each with variants at distances 0..D
    weight_mass: float = 0.99  #: intersection-weight mass defining the distances 0..D
    seed: int = 0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        check_cluster_fields(self.clusters, self.weight_mass)
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        self.circuit.validate()
        granule_theory(self.circuit, self.weight_mass)  # raises for circuits it cannot describe
        check_clustered_reads(self.circuit, self.clusters)


def run(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> dict[str, Any]:
    """Present clustered patterns to the granular layer; compare overlaps with theory."""
    import matplotlib.pyplot as plt

    config.validate()
    params = config.circuit
    n, r = params.address_bits, params.granule.n
    theory = granule_theory(params, config.weight_mass)
    last = theory.last_distance
    _, active, stats = measure_overlaps(params, theory, config.clusters, last, config.seed,
                                        child_seed(config.seed, "circuit"))
    expected = theory.expected(np.arange(last + 1))
    valid = stats["count"] > 0
    rel = np.abs(stats["mean"] / expected - 1)
    z = np.abs(stats["mean"] - expected) / np.where(stats["sem"] > 0, stats["sem"], np.nan)
    # beta over the theory's fit distances that were measured (pairs, a non-zero mean)
    usable = [k for k in theory.fit_distances if k <= last and valid[k] and stats["mean"][k] > 0]
    fitted = effective_beta(stats["mean"], n, usable)
    metrics: dict[str, Any] = {
        "effective_beta": fitted.beta,
        "theoretical_beta": theory.beta,
        "effective_beta_ratio": fitted.beta / theory.beta,
        "design": theory.design,
        "radius": theory.radius,
        "inputs": theory.inputs,
        "n_granule": r,
        "distances_holding_weight": last,
        "pairs": int(stats["count"].sum()),
        "max_relative_error": float(np.nanmax(rel[valid])),
        "max_relative_error_z": float(np.nanmax(z[valid])),
        "distances_without_pairs": int((~valid).sum()),
        "coding_level": float(np.mean([len(a) for a in active]) / r),
    }
    for k in range(last + 1):
        metrics[f"overlap_mean_d{k}"] = float(stats["mean"][k]) if valid[k] else None
        metrics[f"overlap_expected_d{k}"] = float(expected[k])
    atomic_write_json(run_dir.file("overlaps.json"), {
        "distance": list(range(last + 1)), "mean": stats["mean"], "sem": stats["sem"],
        "pairs": stats["count"], "expected": expected})

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    d = np.arange(last + 1)
    for ax, log in zip(axes, (False, True), strict=True):
        ax.errorbar(d[valid], stats["mean"][valid], yerr=2 * stats["sem"][valid], fmt="o",
                    ms=3, capsize=2, label="circuit: mean overlap (+-2 SE)")
        ax.plot(d, expected, "k-", lw=1, label=(r"$r\,I(n,d,d_v)/2^n$" if theory.radius
                                                 is not None else r"$r\,q(d_v)$"))
        ax.fill_between(d, expected * 0.9, expected * 1.1, color="0.85", label="+-10%")
        ax.set_xlabel(r"Hamming distance $d_v$")
        ax.set_ylabel("granule cells active for both")
        if log:
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    axes[0].set_title(f"n={n}, {theory.label}, r={r}: {metrics['pairs']} pairs", fontsize=9)
    axes[1].set_title(f"max relative error {metrics['max_relative_error']:.3f} over "
                      f"d_v = 0..{last}", fontsize=9)
    fig.tight_layout()
    run_dir.save_figure(fig, "granule_overlap_vs_intersection")
    return metrics


def summarize(metrics: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    design = (f"radius {metrics['radius']}" if metrics.get("design", "full") == "full"
              else f"{metrics['inputs']} inputs per cell")
    return (f"granule overlaps vs exact theory ({design}, "
            f"{metrics['n_granule']} granule cells, {metrics['pairs']} pairs):\n"
            f"  max relative error over d_v = 0..{metrics['distances_holding_weight']}: "
            f"{metrics['max_relative_error']:.3f} "
            f"({metrics['max_relative_error_z']:.1f} standard errors)\n"
            f"  effective beta {metrics['effective_beta']:.3f} vs theoretical "
            f"{metrics['theoretical_beta']:.3f} (ratio {metrics['effective_beta_ratio']:.3f})")
