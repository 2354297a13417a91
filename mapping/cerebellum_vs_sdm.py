"""The cerebellar circuit next to the abstract SDM it implements.

:func:`abstract_sdm` builds a :class:`models.sdm.SDM` on the circuit's own granule cells
(same addresses or selected coordinates, same radius, counters saturating where the PF->PC
weights do), so both sides see the same hard locations. :func:`compare_read` puts one read
of both side by side. Where granule cells fire stochastically (asynchronous mossy fibres) no
fixed activation rule reproduces the circuit's active sets; :func:`active_set_read` is the
SDM read that uses the sets the circuit produced in each write and read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from circuits.cerebellum.protocol import CerebellarSDM, CerebellumReadout, counters_from_weights
from mapping.measures import agreement, sums_similarity
from models.sdm import SDM

__all__ = ["ReadComparison", "abstract_sdm", "active_set_read", "compare_read",
           "counter_error"]


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


def active_set_read(write_sets: Sequence[np.ndarray], values: np.ndarray,
                    read_sets: Sequence[np.ndarray], n_granule: int,
                    saturation: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""The SDM read on given active sets: the abstract counterpart of any granule code.

    Writes add the bipolar value to the counters of the cells active in that write, in
    order, clipping at :math:`\pm` ``saturation`` after each (as the PF->PC weights do);
    reads sum the counters of the cells active in that read:

    .. math:: C_j \leftarrow \mathrm{clip}(C_j + (2 v_w - 1)) \;\; (j \in A_w),
              \qquad s_q = \sum_{j \in A_q} C_j, \qquad \hat v_q = [s_q > 0].

    Parameters
    ----------
    write_sets, read_sets
        Per write / read, the indices of the active granule cells (e.g.
        ``readout.active_granule`` of a circuit's write and read).
    values
        ``(W, v)`` binary values of the writes.
    n_granule
        Number of granule cells.
    saturation
        Counter bound (``params.plasticity.counter_range``); ``None``: none.

    Returns
    -------
    bits, sums
        ``(R, v)`` read bits (uint8) and sums of counters (int64).
    """
    values = np.asarray(values)
    if values.ndim != 2 or len(values) != len(write_sets):
        raise ValueError(f"values must be (writes, value_bits) with one row per write "
                         f"({len(write_sets)}), got shape {values.shape}")
    counters = np.zeros((n_granule, values.shape[1]), dtype=np.int64)
    for active, value in zip(write_sets, values.astype(np.int64) * 2 - 1, strict=True):
        active = np.asarray(active, dtype=np.int64)
        if active.size and (active.min() < 0 or active.max() >= n_granule):
            raise ValueError(f"write_sets: granule index out of range 0..{n_granule - 1}")
        counters[active] += value
        if saturation is not None:
            counters[active] = np.clip(counters[active], -saturation, saturation)
    sums = np.stack([counters[np.asarray(active, dtype=np.int64)].sum(axis=0)
                     for active in read_sets]) if len(read_sets) else (
        np.zeros((0, values.shape[1]), dtype=np.int64))
    return (sums > 0).astype(np.uint8), sums
