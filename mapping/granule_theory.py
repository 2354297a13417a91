r"""What theory predicts for a circuit's granule code: expected overlaps and beta.

:func:`granule_theory` reads a :class:`~circuits.cerebellum.params.CerebellumParams` and
returns the exact expectation its granule layer should follow:

- full-address cells (Kanerva): :math:`E(d_v) = r\, I(n, d, d_v) / 2^n`, the Hamming-ball
  intersection (:func:`models.intersection.binary_intersection`), beta fitted over
  :math:`d_v = 0..d-1`;
- selected-coordinate cells (Jaeckel; granule cells with ``k`` claws) in the volley regime:
  :math:`E(d_v) = r\, q(d_v)` with the circuit's firing rule, ``k - t`` matched inputs, each
  releasing with probability :math:`P_{rel}` (:func:`models.intersection_selected.
  release_activation`; :math:`P_{rel} = 1` is Jaeckel's threshold), beta fitted over the
  distances that hold ``weight_mass`` of the weight;
- selected-coordinate cells under asynchronous (Poisson / gamma) mossy fibres: each cell
  fires in a presentation with a probability g(M) set by its matched claws M (the
  stochastic activation, measured on independent keys by :func:`circuits.cerebellum.
  selectivity.measure_activation`), independently across presentations given the key, so
  :math:`E(d_v) = r \sum_{M, M'} P(M, M' \mid d_v)\, g(M) g(M')`.

The distances compared, :math:`0..D`, are those that hold ``weight_mass`` of the normalised
weight in both cases.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from brian2 import nS

from circuits.cerebellum.coding import golgi_for_coding_level
from circuits.cerebellum.params import CerebellumParams, derive
from circuits.cerebellum.protocol import granule_active_sets
from circuits.cerebellum.selectivity import measure_activation
from mapping.measures import (
    clustered_patterns,
    distance_weights,
    effective_beta,
    log_linearity,
    normalised_weights,
    overlap_statistics,
    weight_error,
)
from models.intersection import binary_intersection, fit_beta
from models.intersection_selected import (
    fit_beta_selected,
    release_activation,
    release_for_coding_level,
    selected_intersection,
    threshold_activation,
)
from models.seeding import child_seed

__all__ = ["GranuleTheory", "at_coding_level", "calibrate_level", "check_cluster_fields",
           "check_clustered_reads",
           "granule_theory", "measure_level", "measure_overlaps"]


@dataclass(frozen=True)
class GranuleTheory:
    """The exact expectation of one circuit's granule overlaps (module docstring)."""

    design: str  #: ``"full"`` or ``"selected"``
    address_bits: int  #: n
    n_granule: int  #: r
    radius: int | None  #: d (full design)
    inputs: int | None  #: k (selected design)
    activation: np.ndarray | None  #: g(M), M = 0..k (selected design)
    beta: float  #: the beta fitted to the exact expectation
    last_distance: int  #: D: distances 0..D hold ``weight_mass`` of the weight

    def expected(self, distances: np.ndarray) -> np.ndarray:
        """Expected number of granule cells active for both patterns at each distance."""
        if self.design == "full":
            return binary_intersection(self.address_bits, self.radius, distances,
                                       neurons=self.n_granule)
        return selected_intersection(self.address_bits, self.inputs, distances,
                                     self.n_granule, activation=self.activation)

    @property
    def stochastic(self) -> bool:
        """Whether cells fire with probabilities strictly between 0 and 1 (unreliable release).

        Then a presentation's overlap with itself is not its overlap with a repeat: measure
        distance 0 across two presentations.
        """
        return self.activation is not None and bool(
            np.any((self.activation > 0) & (self.activation < 1)))

    @property
    def fit_distances(self) -> range:
        """Distances the beta is fitted over: ``0..d-1`` (full design), ``0..D`` (selected)."""
        return range(self.radius) if self.design == "full" else range(self.last_distance + 1)

    @property
    def label(self) -> str:
        """A short description for figure titles."""
        if self.design == "full":
            return f"full address, radius {self.radius}"
        return f"{self.inputs} inputs (claws)"


def granule_theory(params: CerebellumParams, weight_mass: float = 0.99,
                   activation: np.ndarray | None = None) -> GranuleTheory:
    """The exact expectation for this circuit's granule layer.

    Parameters
    ----------
    params
        The circuit.
    weight_mass
        Mass of the normalised weight the compared distances hold.
    activation
        g(M), ``M = 0..inputs``: the measured firing probability of a cell with ``M``
        matched claws; needed (and only accepted) for selected-coordinate cells under
        asynchronous mossy fibres.

    Raises
    ------
    ValueError
        For a circuit with no exact theory here: one-rail mossy fibres (the mushroom body:
        keys are not uniform two-rail addresses), full-address cells under asynchronous
        mossy fibres, or asynchronous fibres without a measured activation.
    """
    n, r = params.address_bits, params.granule.n
    if params.mossy.rails != "two":
        raise ValueError("circuit.mossy.rails must be 'two': the overlap theory is for "
                         "uniform binary keys on two rails per bit")
    asynchronous = params.mossy.firing != "regular"
    if asynchronous and params.granule.design == "full":
        raise ValueError("circuit.mossy.firing must be 'regular' (synchronous volleys) for "
                         "full-address cells: their overlap theory is a deterministic radius")
    if asynchronous and activation is None:
        raise ValueError("asynchronous mossy fibres (circuit.mossy.firing = 'poisson'): the "
                         "theory needs the circuit's measured activation g(M) "
                         "(circuits.cerebellum.selectivity.measure_activation)")
    if activation is not None:
        if not asynchronous:
            raise ValueError("a measured activation is for asynchronous mossy fibres; "
                             "volleys follow the circuit's own firing rule")
        activation = np.asarray(activation, dtype=float)
        k = params.granule.inputs
        if activation.shape != (k + 1,) or np.any((activation < 0) | (activation > 1)) \
                or not np.any(activation > 0):
            raise ValueError(f"activation must be {k + 1} probabilities g(0..{k}), not all "
                             f"0, got {activation!r}")
        fit = fit_beta_selected(n, k, activation=activation, weight_mass=weight_mass)
        return GranuleTheory("selected", n, r, None, k, activation, fit.beta,
                             fit.last_distance)
    if params.granule.design == "full":
        radius = derive(params).radius
        beta = fit_beta(n, radius)
        _, last = weight_error(*normalised_weights(n, radius, beta), weight_mass)
        return GranuleTheory("full", n, r, radius, None, None, beta, last)
    g = params.granule
    if g.release_probability < 1:
        activation = release_activation(g.inputs, g.inputs - g.mismatches,
                                        g.release_probability)
    else:
        activation = threshold_activation(g.inputs, g.mismatches)
    fit = fit_beta_selected(n, g.inputs, activation=activation, weight_mass=weight_mass)
    return GranuleTheory("selected", n, r, None, g.inputs, activation, fit.beta,
                         fit.last_distance)


def measure_overlaps(params: CerebellumParams, theory: GranuleTheory, clusters: int,
                     max_distance: int, pattern_seed: int, circuit_seed: int
                     ) -> tuple[np.ndarray, list[np.ndarray], dict[str, np.ndarray]]:
    """Present clustered patterns to the granular layer; overlap statistics per distance.

    ``clusters`` random bases with a variant at every distance ``0..max_distance``
    (:func:`mapping.measures.clustered_patterns`). A stochastic code (``theory.stochastic``)
    is measured at distance 0 across two presentations of each base, a deterministic one
    with each presentation's own set.

    Returns
    -------
    patterns, active, stats
        The presented patterns, each presentation's active granule cells, and
        :func:`mapping.measures.overlap_statistics` over distances ``0..max_distance``.
    """
    patterns, labels = clustered_patterns(params.address_bits, clusters, max_distance,
                                          pattern_seed, repeat_base=theory.stochastic)
    active = granule_active_sets(params, patterns, seed=circuit_seed)
    stats = overlap_statistics(active, patterns, labels, params.granule.n, max_distance,
                               include_self=not theory.stochastic)
    return patterns, active, stats


def check_cluster_fields(clusters: int, weight_mass: float) -> None:
    """Refuse bad ``clusters`` and ``weight_mass`` of a clustered-pattern run, by name."""
    if clusters < 1:
        raise ValueError("clusters must be >= 1")
    if not 0 < weight_mass <= 1:
        raise ValueError("weight_mass must lie in (0, 1]")


def check_clustered_reads(circuit: CerebellumParams, clusters: int, prefix: str = "circuit."
                          ) -> None:
    """Refuse a clustered-pattern run over the memory budget, before anything is drawn.

    Each cluster is read at distances ``0..D <= address_bits``
    (:func:`measure_overlaps`); ``prefix`` is how the configuration names the circuit.
    """
    from circuits.memory import check_cerebellum

    reads = clusters * (circuit.address_bits + 1)
    check_cerebellum(circuit, presentations=reads,
                     duration_s=float(reads * circuit.protocol.read_slot), prefix=prefix,
                     presentations_field="clusters", presentations_value=clusters)


def at_coding_level(circuit: CerebellumParams, level: float) -> CerebellumParams:
    """The circuit with granule coding level ``level``, where a rule sets it.

    Full design: the radius whose Hamming ball holds that fraction. Selected design (``k``
    claws) with volleys: unreliable MF->GrC release, the fewest tolerated mismatches and the
    release probability that give the level
    (:func:`models.intersection_selected.release_for_coding_level`). Asynchronous mossy
    fibres: the circuit as given (Golgi inhibition holds the level; :func:`calibrate_level`
    finds the conductance by simulation).
    """
    granule = circuit.granule
    if circuit.mossy.firing != "regular":
        return circuit
    if granule.design == "full":
        return replace(circuit, granule=replace(granule, coding_level=level, radius=None))
    mismatches, release = release_for_coding_level(granule.inputs, level)
    return replace(circuit, granule=replace(granule, coding_level=None, mismatches=mismatches,
                                            release_probability=release))


def calibrate_level(circuit: CerebellumParams, level: float, seed: int
                    ) -> tuple[CerebellumParams, np.ndarray | None]:
    """The circuit at coding level ``level`` and, for asynchronous fibres, its activation.

    Volleys: :func:`at_coding_level` (no simulation; activation ``None``). Asynchronous
    mossy fibres: the Golgi conductance that holds the level
    (:func:`circuits.cerebellum.coding.golgi_for_coding_level`), then g(M) measured on
    independent random keys (:func:`circuits.cerebellum.selectivity.measure_activation`),
    each with its own seed derived from ``seed``.
    """
    params = at_coding_level(circuit, level)
    if circuit.mossy.firing == "regular":
        return params, None
    params, _ = golgi_for_coding_level(params, level, seed=child_seed(seed, "golgi_level"))
    activation, _ = measure_activation(params, seed=child_seed(seed, "activation"))
    return params, activation


def measure_level(params: CerebellumParams, clusters: int, weight_mass: float, seed: int,
                  activation: np.ndarray | None = None) -> dict[str, Any]:
    """Present clustered patterns at one coding level; fit the effective beta.

    ``activation``: the measured g(M) of a circuit with asynchronous mossy fibres
    (:func:`granule_theory`). Returns the per-distance statistics and the fitted numbers:
    effective beta (least squares of log overlap on cosine over the fit distances), the
    theory's beta, their ratio, R^2 of both lines over the distances holding
    ``weight_mass`` of the weight, and the weight errors against the softmax and the exact
    expectation (as ``figures cerebellum-beta`` reports them).
    """
    n, cells = params.address_bits, params.granule.n
    derived = derive(params)
    theory = granule_theory(params, weight_mass, activation)
    last = theory.last_distance
    fit_distances = list(theory.fit_distances)
    max_distance = max(last, fit_distances[-1])
    g = params.granule
    tag = (theory.radius if theory.radius is not None
           else f"k{g.inputs}_t{g.mismatches}_p{g.release_probability:.9f}")
    if activation is not None:
        tag = f"{tag}_goc{float(params.golgi.conductance / nS):.9f}"
    patterns, active, stats = measure_overlaps(
        params, theory, clusters, max_distance, child_seed(seed, "patterns", tag),
        child_seed(seed, "circuit", tag))
    fit = effective_beta(stats["mean"], n, fit_distances)
    with np.errstate(divide="ignore"):
        log_exact = np.log(theory.expected(np.arange(n + 1)))
    expected = np.exp(log_exact[: max_distance + 1])
    weights = distance_weights(stats["mean"][: last + 1], n, theory.radius, theory.beta,
                               log_exact=log_exact)
    weights_eff = distance_weights(stats["mean"][: last + 1], n, theory.radius, fit.beta,
                                   log_exact=log_exact)
    return {
        "radius": theory.radius,
        "inputs": theory.inputs,
        "mismatches": g.mismatches if theory.design == "selected" else None,
        "release_probability": g.release_probability,
        "golgi_conductance_nS": (float(params.golgi.conductance / nS) if activation is not None
                                 else None),
        "activation": None if activation is None else [float(x) for x in activation],
        "coding_level": float(np.mean([len(a) for a in active]) / cells),
        "coding_level_expected": derived.expected_coding_level,
        "effective_beta": fit.beta,
        "theoretical_beta": theory.beta,
        "effective_beta_ratio": fit.beta / theory.beta,
        # R^2 of log-overlap on cosine over the distances holding weight_mass of the weight
        "effective_r_squared": log_linearity(stats["mean"], n, range(last + 1)),
        "theoretical_r_squared": log_linearity(expected, n, range(last + 1)),
        "weight_error_vs_softmax": weights.max_error_vs_softmax,
        "weight_error_vs_softmax_effective": weights_eff.max_error_vs_softmax,
        "weight_error_vs_exact": weights.max_error_vs_exact,
        "distances_holding_weight": last,
        "pairs": int(stats["count"].sum()),
        "patterns": patterns,
        "stats": stats,
        "expected": expected,
        "weights": weights,
    }
