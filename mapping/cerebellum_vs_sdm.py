"""The cerebellar circuit next to the abstract SDM it implements.

:func:`abstract_sdm` builds a :class:`models.sdm.SDM` on the circuit's own granule cells
(same addresses or selected coordinates, same radius, counters saturating where the PF->PC
weights do), so both sides see the same hard locations. :func:`compare_read` puts one read
of both side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from circuits.cerebellum.protocol import CerebellarSDM, CerebellumReadout, counters_from_weights
from mapping.measures import agreement, sums_similarity
from models.sdm import SDM

__all__ = ["ReadComparison", "abstract_sdm", "compare_read", "counter_error"]


def abstract_sdm(circuit: CerebellarSDM) -> SDM:
    """A neuron-based SDM with the circuit's hard locations and activation rule.

    Full design: Kanerva addresses with the circuit's radius (the ball the first mossy
    volley selects). Selected design: Jaeckel coordinates/targets with the circuit's
    mismatch tolerance. Counters saturate at ``+-counter_range``, the weight bounds.
    """
    params = circuit.params
    wiring = circuit.wiring
    saturation = params.plasticity.counter_range
    if params.granule.design == "full":
        return SDM(torch.as_tensor(wiring.addresses), radius=circuit.derived.radius,
                   value_dim=params.value_bits, saturation=saturation)
    if params.mossy.rails == "one":
        raise ValueError("the abstract SDM needs two-rail mossy fibres (0 and 1 bits both "
                         "matched); the one-rail (mushroom body) circuit has no Kanerva "
                         "counterpart")
    return SDM.selected_coordinate(torch.as_tensor(wiring.coordinates),
                                   torch.as_tensor(wiring.targets), params.address_bits,
                                   mismatches=params.granule.mismatches,
                                   value_dim=params.value_bits, saturation=saturation)


@dataclass(frozen=True)
class ReadComparison:
    """One read of the circuit and of the abstract SDM on the same queries."""

    circuit_bits: np.ndarray  # (P, v) decoded from the nuclear cells
    abstract_bits: np.ndarray  # (P, v) abstract SDM majority
    abstract_sums: np.ndarray  # (P, v) abstract pre-threshold sums of counters
    circuit_sums: np.ndarray  # (P, v) -net PF drive / ltp: the circuit's sums of counters
    active_sets_equal: np.ndarray  # (P,) circuit active granule set == abstract active set
    stored: np.ndarray | None  # (P, v) the values the queries should recall

    @property
    def bit_agreement(self) -> float:
        """Fraction of bits where the circuit's decoded output equals the abstract read."""
        return agreement(self.circuit_bits, self.abstract_bits)

    @property
    def circuit_accuracy(self) -> float:
        """Fraction of decoded bits equal to the stored values (NaN without ``stored``)."""
        if self.stored is None:
            return float("nan")
        return float((self.circuit_bits == self.stored).mean())

    @property
    def abstract_accuracy(self) -> float:
        """Fraction of abstract-read bits equal to the stored values."""
        if self.stored is None:
            return float("nan")
        return float((self.abstract_bits == self.stored).mean())

    @property
    def sums_correlation(self) -> float:
        """Pearson correlation of the circuit's and the abstract pre-threshold sums."""
        return sums_similarity(self.circuit_sums, self.abstract_sums)[1]

    @property
    def sums_cosine(self) -> float:
        """Cosine similarity of the circuit's and the abstract pre-threshold sums."""
        return sums_similarity(self.circuit_sums, self.abstract_sums)[0]


def compare_read(circuit: CerebellarSDM, model: SDM, readout: CerebellumReadout,
                 stored: np.ndarray | None = None) -> ReadComparison:
    """Read ``readout.patterns`` from ``model`` and compare with the circuit's readout."""
    if readout.kind != "read":
        raise ValueError("compare_read needs the readout of a read, not a write")
    queries = torch.as_tensor(readout.patterns)
    abstract_bits = model.read(queries).numpy()
    abstract_sums = model.sums(queries).numpy()
    equal = np.array([np.array_equal(c, a.numpy())
                      for c, a in zip(readout.active_granule, model.active_sets(queries),
                                      strict=True)])
    circuit_sums = -readout.net_drive / circuit.params.plasticity.ltp
    return ReadComparison(circuit_bits=readout.bits, abstract_bits=abstract_bits,
                          abstract_sums=abstract_sums, circuit_sums=circuit_sums,
                          active_sets_equal=equal,
                          stored=None if stored is None else np.asarray(stored))


def counter_error(circuit: CerebellarSDM, model: SDM, readout: CerebellumReadout) -> float:
    """Largest ``|counter_circuit - counter_abstract|`` over all PF->PC synapses."""
    counters = counters_from_weights(readout.weights_after, circuit.params)
    abstract = model.counters.numpy()[readout.pf_pre, readout.pf_post]
    return float(np.abs(counters - abstract).max())
