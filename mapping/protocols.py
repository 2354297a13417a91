r"""Behavioural protocols on the cerebellar circuit, and what each trial shows.

The talk's experiment: two cues (mossy-fibre patterns :math:`K_0`, :math:`K_1`) and two
actions (Purkinje groups A, the first half of the outputs, and B, the second half). A
*protocol* is a sequence of phases; in each trial of a phase every cue is presented once
for training (a write) and then probed (a read, plasticity off):

``baseline``
    probes only;
``acquisition`` / ``reacquisition``
    cue :math:`c` with the teaching signal of its action (climbing fibres of group A for
    :math:`K_0`, of group B for :math:`K_1`);
``extinction``
    the cue alone, no teaching signal (parallel fibres without climbing fibres: LTP);
``overwrite``
    the cue with the *other* action's teaching signal;
``delay``
    ``delay`` seconds without stimuli (:meth:`~circuits.cerebellum.protocol.CerebellarSDM.rest`),
    then probes: spontaneous recovery;
``generalisation``
    probes of copies of :math:`K_0` with ``distances`` bits flipped.

:func:`run_protocol` runs one protocol on one circuit and returns one row per probe with
the observables an experiment could record (:data:`OBSERVABLES`), all measured from spikes
and synaptic weights:

``ensemble_overlap``
    Jaccard overlap of the granule cells the probe activates with those the cue activated
    in its baseline probe (granule-cell imaging across trials);
``simple_spikes_a`` / ``simple_spikes_b``
    mean Purkinje simple-spike count per cell of group A / B in the decode window;
``output_a`` / ``output_b``
    fraction of group A / B nuclear cells that fired (the circuit's output);
``nuclear_spikes_a`` / ``nuclear_spikes_b``
    mean spike count per nuclear cell of group A / B in the decode window (what a recording
    of the nuclei, or of the fly's output neurons, counts: graded where ``output_*`` only
    says whether a cell fired);
``choice``
    ``output_a - output_b``: > 0 the circuit chooses A (the behavioural readout);
``counter_a`` / ``counter_b``
    mean PF->PC counter :math:`(w_0 - w)/\mathrm{ltp}` from the cue's baseline granule cells
    onto group A / B (a synapse-level signal; > 0: depressed, i.e. taught);
``coding_level``
    fraction of granule cells the probe activates;
``complex_spikes_a`` / ``complex_spikes_b``
    climbing-fibre spikes per Purkinje cell of group A / B in the cue's training
    presentation of the probe's trial (0 where there was none): the teaching signal, which
    the Purkinje dendrites' calcium reports (an all-or-none climbing fibre gives 0 or 1; a
    graded one, ``climbing.graded``, a burst of up to ``climbing.burst``).

A circuit with ``climbing.graded`` runs the protocol in closed loop: each teaching burst has
``round(B * error)`` spikes, ``B = climbing.burst`` and ``error`` the fraction of the taught
group's nuclear cells that did *not* fire at the cue's latest probe (1 before the first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from circuits.cerebellum.mossy import movable, move_glomeruli, odours_with_activity
from circuits.cerebellum.params import CerebellumParams
from circuits.cerebellum.protocol import CerebellarSDM, CerebellumReadout, counters_from_weights
from circuits.spikes import SpikeTrains
from mapping.preparations import preparation_of
from models.patterns import flip_exact
from models.seeding import child_seed

__all__ = ["OBSERVABLES", "PHASES", "PROTOCOLS", "Phase", "Protocol", "ProtocolRun", "Trial",
           "action_groups", "check_protocol", "get_protocol", "probe_observables",
           "record_protocol", "run_protocol", "schedule", "trials"]

#: the phases a protocol is made of
PHASES = ("baseline", "acquisition", "extinction", "overwrite", "reacquisition",
          "generalisation", "delay")
#: the per-probe observables of :func:`run_protocol`
OBSERVABLES = ("ensemble_overlap", "simple_spikes_a", "simple_spikes_b", "output_a",
               "output_b", "nuclear_spikes_a", "nuclear_spikes_b", "choice", "counter_a",
               "counter_b", "coding_level", "complex_spikes_a", "complex_spikes_b")


@dataclass(frozen=True)
class Phase:
    """``trials`` trials of one phase kind (:data:`PHASES`)."""

    kind: str
    trials: int = 1

    def validate(self) -> None:
        """Raise ``ValueError`` naming a bad kind or trial count."""
        if self.kind not in PHASES:
            raise ValueError(f"unknown phase {self.kind!r}; known: {', '.join(PHASES)}")
        if not isinstance(self.trials, int) or isinstance(self.trials, bool) \
                or self.trials < 1:
            raise ValueError(f"phase {self.kind!r}: trials must be an integer >= 1, "
                             f"got {self.trials!r}")


@dataclass(frozen=True)
class Protocol:
    """A named sequence of phases; the first must be ``baseline`` (the reference probes)."""

    name: str
    phases: tuple[Phase, ...]
    distances: tuple[int, ...] = (2, 4, 8, 16, 32)  #: bits flipped in generalisation probes
    delay: float = 15.0  #: s without stimuli before each trial of a delay phase

    def validate(self, address_bits: int | None = None) -> None:
        """Raise ``ValueError`` naming the problem (``address_bits`` checks the distances)."""
        if not self.phases or self.phases[0].kind != "baseline":
            raise ValueError(f"protocol {self.name!r} must start with a baseline phase")
        for phase in self.phases:
            phase.validate()
        if any(p.kind == "delay" for p in self.phases) and not self.delay > 0:
            raise ValueError(f"protocol {self.name!r}: delay must be > 0 s, got {self.delay}")
        if any(p.kind == "generalisation" for p in self.phases):
            if not self.distances or any(d < 1 for d in self.distances):
                raise ValueError(f"protocol {self.name!r}: generalisation distances must be "
                                 f">= 1, got {list(self.distances)}")
            if address_bits is not None and max(self.distances) > address_bits:
                raise ValueError(f"protocol {self.name!r}: a generalisation distance of "
                                 f"{max(self.distances)} bits exceeds the {address_bits}-bit "
                                 f"cues")


#: the protocols :func:`get_protocol` knows
PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    # the talk's protocol: learn two cue -> action associations, then extinguish them
    Protocol("acquisition-extinction", (Phase("baseline"), Phase("acquisition", 3),
                                        Phase("extinction", 3))),
    # learn, unlearn by cue-alone presentations (6 trials: the choice is gone under every
    # hypothesis, measured; a fixed count, not a per-circuit criterion), learn again: does
    # it re-learn faster than it first learned (savings: Napier, Macrae & Kehoe 1992)?
    Protocol("savings", (Phase("baseline"), Phase("acquisition", 3), Phase("extinction", 6),
                         Phase("reacquisition", 3))),
    # learn, then the opposite association
    Protocol("overwrite", (Phase("baseline"), Phase("acquisition", 3), Phase("overwrite", 4))),
    # learn, extinguish, wait: does the association come back by itself?
    Protocol("spontaneous-recovery", (Phase("baseline"), Phase("acquisition", 3),
                                      Phase("extinction", 3), Phase("delay"))),
    # learn, then probe cues at graded distances
    Protocol("generalisation", (Phase("baseline"), Phase("acquisition", 3),
                                Phase("generalisation"))),
)}


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name`` (:data:`PROTOCOLS`); ``ValueError`` names the known ones."""
    if not isinstance(name, str) or name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


@dataclass(frozen=True)
class Trial:
    """One presentation of a protocol: a training write or a probe."""

    phase: str
    trial: int  #: trial number within the phase (0-based)
    event: str  #: "train", "probe" or "rest"
    cue: int  #: 0 or 1
    teach: str  #: action taught ("A", "B") or "" (no teaching signal); probes: ""
    distance: int = 0  #: bits flipped from the cue (generalisation probes)


def trials(protocol: Protocol) -> list[Trial]:
    """Every presentation of ``protocol`` in order."""
    protocol.validate()
    out: list[Trial] = []
    for phase in protocol.phases:
        for k in range(phase.trials):
            if phase.kind == "generalisation":
                out.extend(Trial(phase.kind, k, "probe", 0, "", d) for d in protocol.distances)
                continue
            if phase.kind == "delay":
                out.append(Trial(phase.kind, k, "rest", 0, ""))
            for cue in (0, 1):
                action, other = ("A", "B") if cue == 0 else ("B", "A")
                teach = {"acquisition": action, "reacquisition": action, "extinction": "",
                         "overwrite": other}.get(phase.kind)
                if teach is not None:
                    out.append(Trial(phase.kind, k, "train", cue, teach))
                out.append(Trial(phase.kind, k, "probe", cue, ""))
    return out


def action_groups(value_bits: int) -> dict[str, np.ndarray]:
    """The Purkinje cells of action A (the first half of the outputs) and B (the rest)."""
    half = value_bits // 2
    return {"A": np.arange(half), "B": np.arange(half, value_bits)}


def schedule(protocol: Protocol, params: CerebellumParams, seed: int
             ) -> tuple[list[Trial], np.ndarray, list[tuple[str, np.ndarray, Any]]]:
    """The trials, the two cues ``(2, n)`` and the circuit schedule (one entry per trial).

    The cues are random keys drawn from ``seed`` (one-rail inputs, the mushroom body's
    odours: exactly ``round(mossy.activity * n)`` inputs on); generalisation probes flip
    ``distance`` bits of cue 0 (a fresh draw per distance; an odour moves ``distance / 2``
    glomeruli from on to off and as many from off to on,
    :func:`~circuits.cerebellum.mossy.move_glomeruli`, so every probe activates as many). A
    protocol the circuit's preparation cannot run is refused (:func:`check_protocol`).
    """
    check_protocol(protocol, params)
    if params.value_bits < 2:
        raise ValueError("the two-action protocols need circuit.value_bits >= 2")
    rng = np.random.default_rng(child_seed(seed, "protocol_cues"))
    if params.mossy.rails == "one":  # odours: the same number of glomeruli on in each
        cues = odours_with_activity(2, params.address_bits, params.mossy.activity, rng)
    else:
        cues = rng.integers(0, 2, (2, params.address_bits)).astype(np.uint8)
    groups = action_groups(params.value_bits)
    out = []
    steps = trials(protocol)
    for t in steps:
        if t.event == "rest":
            out.append(("rest", float(protocol.delay), None))
            continue
        key = cues[t.cue][None, :]
        if t.distance and params.mossy.rails == "one":
            key = move_glomeruli(key[0], t.distance, np.random.default_rng(
                child_seed(seed, "generalisation", t.distance)))[None, :]
        elif t.distance:
            key = flip_exact(key, t.distance,
                             seed=child_seed(seed, "generalisation", t.distance)).numpy()
        if t.event == "probe":
            out.append(("read", key, None))
            continue
        value = np.zeros((1, params.value_bits), dtype=np.uint8)
        if t.teach:
            value[0, groups[t.teach]] = 1
        out.append(("write", key, value))
    return steps, cues, out


def check_protocol(protocol: Protocol, params: CerebellumParams) -> None:
    """Raise ``ValueError`` if the circuit ``params`` cannot run ``protocol``, saying why.

    Besides :meth:`Protocol.validate`: on one-rail cues (the mushroom body's odours, which
    all activate as many glomeruli) a generalisation distance must be even and at most
    twice the smaller of the active and inactive counts.
    """
    protocol.validate(params.address_bits)
    if params.mossy.rails != "one" or not any(p.kind == "generalisation"
                                                for p in protocol.phases):
        return
    n = params.address_bits
    on = round(params.mossy.activity * n)
    for distance in protocol.distances:
        if not movable(distance, on, n - on):
            raise ValueError(
                f"protocol {protocol.name!r} cannot run on the "
                f"{preparation_of(params).name} preparation: its odours have {on} of "
                f"{n} glomeruli on, and a generalisation probe moves them in pairs (one "
                f"off, one on), so a distance must be even and at most "
                f"{2 * min(on, n - on)}; got {distance}")


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = len(np.union1d(a, b))
    return len(np.intersect1d(a, b)) / union if union else float("nan")


def probe_observables(readout: CerebellumReadout, baseline: np.ndarray,
                      params: CerebellumParams, teaching: CerebellumReadout | None = None
                      ) -> dict[str, float]:
    """The :data:`OBSERVABLES` of one probe readout, against the cue's baseline active set.

    ``teaching``: the cue's training presentation in the same trial (its climbing-fibre
    spikes), or None.
    """
    groups = action_groups(params.value_bits)
    active = readout.active_granule[0]
    counters = counters_from_weights(readout.weights_after, params)
    from_baseline = np.isin(readout.pf_pre, baseline)
    row: dict[str, float] = {
        "ensemble_overlap": _jaccard(active, baseline),
        "coding_level": len(active) / params.granule.n,
    }
    climbing = teaching.spikes["climbing"].indices if teaching is not None else []
    for name, cells in groups.items():
        g = name.lower()
        row[f"simple_spikes_{g}"] = float(readout.purkinje_counts[0, cells].mean())
        row[f"output_{g}"] = float(readout.bits[0, cells].mean())
        row[f"nuclear_spikes_{g}"] = float(readout.nuclei_counts[0, cells].mean())
        onto = from_baseline & np.isin(readout.pf_post, cells)
        row[f"counter_{g}"] = float(counters[onto].mean()) if onto.any() else float("nan")
        row[f"complex_spikes_{g}"] = float(np.isin(climbing, cells).sum() / len(cells))
    row["choice"] = row["output_a"] - row["output_b"]
    return row


def _present_graded(circuit: CerebellarSDM, steps: list[Trial],
                    entries: list[tuple[str, Any, Any]], params: CerebellumParams
                    ) -> list[CerebellumReadout]:
    """Present ``entries`` one by one, each teaching burst set by the output's error.

    A write teaching group X for cue c fires ``round(B * (1 - o))`` climbing-fibre spikes
    per cell of X, ``o`` the fraction of X's nuclear cells that fired at c's latest probe
    (0 before the first); probes of generalisation copies do not count.
    """
    burst = params.climbing.burst
    latest: dict[int, np.ndarray] = {}
    readouts = []
    for t, (kind, key, value) in zip(steps, entries, strict=True):
        if kind == "write" and value.any():
            taught = value[0] > 0
            output = latest.get(t.cue)
            error = 1.0 if output is None else 1.0 - float(output[taught].mean())
            value = (value * round(burst * error)).astype(np.uint8)
        (readout,) = circuit.present([(kind, key, value)])
        if t.event == "probe" and not t.distance:
            latest[t.cue] = np.asarray(readout.bits[0], dtype=float)
        readouts.append(readout)
    return readouts


@dataclass(frozen=True)
class ProtocolRun:
    """One protocol on one circuit: the probe rows and the spikes an imaging rig would see.

    Attributes
    ----------
    rows
        One row per probe (:func:`run_protocol`).
    spikes
        Population name -> :class:`~circuits.spikes.SpikeTrains` over the whole protocol
        (times from the protocol's start, s).
    duration
        Length of the protocol (s).
    slots
        ``(presentations, 2)`` start and end (s) of every presentation and rest, in order
        (back to back; the first starts after the circuit's lead-in).
    decode
        Length of the decode window from each probe's onset (s).
    weights
        ``(probes, synapses)`` PF->PC weights during each probe (``pf_pre``/``pf_post``
        name the synapses), or None.
    baseline_cells
        Cue -> the granule cells its baseline probe activated.
    voltage
        ``(purkinje cells, steps)`` Purkinje membrane potential (V) on the simulation grid
        from time 0, step ``dt`` (``record_protocol(voltage=True)``), or None.
    training
        Row position -> the presentation number of the cue's training presentation in the
        probe's trial (absent: the trial has none).
    """

    rows: list[dict[str, Any]]
    spikes: dict[str, SpikeTrains]
    duration: float
    slots: np.ndarray
    decode: float = 0.0
    weights: np.ndarray | None = None
    pf_pre: np.ndarray | None = None
    pf_post: np.ndarray | None = None
    baseline_cells: dict[int, np.ndarray] = field(default_factory=dict)
    voltage: np.ndarray | None = None
    dt: float = 0.0
    training: dict[int, int] = field(default_factory=dict)

    @property
    def windows(self) -> np.ndarray:
        """``(probes, 2)`` start and end (s) of each probe's slot, in row order."""
        return np.asarray(self.slots, dtype=float)[[row["index"] for row in self.rows]]


def _joined(readouts: list[CerebellumReadout], name: str) -> SpikeTrains:
    parts = [r.spikes[name] for r in readouts]
    return SpikeTrains(np.concatenate([p.indices for p in parts]),
                       np.concatenate([p.times for p in parts]), parts[0].size, name)


def record_protocol(params: CerebellumParams, protocol: Protocol, *, seed: int = 0,
                    circuit_seed: int | None = None, voltage: bool = False) -> ProtocolRun:
    """Run ``protocol`` on a circuit: every probe measured; spikes and weights kept.

    Parameters as :func:`run_protocol`, which returns this run's ``rows``; ``voltage``
    also records the Purkinje cells' membrane potential (numpy and Cython backends).
    """
    steps, _, entries = schedule(protocol, params, seed)
    circuit = CerebellarSDM(params, seed=child_seed(seed, "circuit")
                            if circuit_seed is None else circuit_seed, report=None)
    monitor = None
    if voltage:
        from brian2 import StateMonitor

        monitor = StateMonitor(circuit.groups["purkinje"], "v", record=True,
                               name="purkinje_voltage*")
        circuit.network.add(monitor)
    readouts = (_present_graded(circuit, steps, entries, params) if params.climbing.graded
                else circuit.present(entries))
    baseline: dict[int, np.ndarray] = {}
    teaching: dict[tuple[str, int, int], tuple[int, CerebellumReadout]] = {}
    training: dict[int, int] = {}
    rows, slots, weights = [], [], []
    for index, (t, readout) in enumerate(zip(steps, readouts, strict=True)):
        start = float(readout.onsets[0]) if len(readout.onsets) else slots[-1][1]
        length = float(readout.slot) * len(readout.onsets) if len(readout.onsets) \
            else float(protocol.delay)
        slots.append((start, start + length))
        if t.event == "train":
            teaching[(t.phase, t.trial, t.cue)] = (index, readout)
        if t.event != "probe":
            continue
        if t.phase == "baseline":
            baseline[t.cue] = readout.active_granule[0]
        taught = teaching.get((t.phase, t.trial, t.cue))
        if taught is not None:
            training[len(rows)] = taught[0]
        rows.append({"index": index, "phase": t.phase, "trial": t.trial, "cue": t.cue,
                     "distance": t.distance,
                     **probe_observables(readout, baseline[t.cue], params,
                                         None if taught is None else taught[1])})
        weights.append(np.asarray(readout.weights_after, dtype=np.float32))
    return ProtocolRun(rows=rows,
                       spikes={name: _joined(readouts, name) for name in readouts[-1].spikes},
                       duration=slots[-1][1], slots=np.array(slots, dtype=float),
                       decode=float(params.protocol.decode_window),
                       weights=np.stack(weights), pf_pre=np.asarray(readouts[0].pf_pre),
                       pf_post=np.asarray(readouts[0].pf_post), baseline_cells=baseline,
                       voltage=None if monitor is None else np.asarray(monitor.v[:]),
                       dt=float(params.protocol.dt), training=training)


def run_protocol(params: CerebellumParams, protocol: Protocol, *, seed: int = 0,
                 circuit_seed: int | None = None) -> list[dict[str, Any]]:
    """Run ``protocol`` on a circuit and measure every probe.

    Parameters
    ----------
    params
        The circuit (a hypothesis variant: :meth:`circuits.cerebellum.hypotheses.Hypothesis.apply`).
    protocol
        What to present (:data:`PROTOCOLS`).
    seed
        Seeds the cues; the circuit too unless ``circuit_seed`` is given.
    circuit_seed
        Seeds the circuit (wiring, connectivity, mossy-fibre spikes).

    Returns
    -------
    list of dict
        One row per probe: ``index`` (presentation number), ``phase``, ``trial``, ``cue``,
        ``distance`` and the :data:`OBSERVABLES`. :func:`record_protocol` also keeps the
        spikes.
    """
    return record_protocol(params, protocol, seed=seed, circuit_seed=circuit_seed).rows
