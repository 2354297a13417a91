"""Parameters of the spiking entorhinal-hippocampal loop (spiking TEM-t).

Every step of a walk is one slot of ``protocol.step`` (a theta cycle). Within slot ``k``
(times from its onset):

==========  =================================================================
``0``        MEC grid cells of the current phase fire (the query)
``0-8 ms``   memory neurons fire with rates ``exp(beta (key . query) - c)``; interneurons
             raise ``c`` with their total activity (soft winner-take-all); memory neurons
             drive the LEC cells of their stored symbol: the prediction
``obs``      the observation's LEC cells fire; memory neuron ``k`` is recruited and
             Hebbian plasticity stores the active MEC cells as its key and the active LEC
             cells as its value (write gate)
``hold``     grid cells re-fire their phase (or the phase memory recall points to:
             loop closure, when enabled)
``act``      the action cell fires; conjunctive (phase, action) cells move each module's
             phase: the next slot's query
==========  =================================================================
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from brian2 import Hz, Quantity, ms

import circuits.units  # noqa: F401  (registers quantities with the config loader)
from circuits._fields import check_choice_field as _choice
from circuits._fields import check_int_at_least as _int_at_least
from circuits._fields import check_positive as _positive
from circuits._fields import quantity_field as _q

__all__ = ["DEFAULT_BETA", "DEFAULT_MEC_CHECKPOINT", "MEC_SOURCES", "MEMORY_SPIKING",
           "HippocampusParams", "LoopTiming", "MECParams", "MemoryParams"]


MEC_SOURCES = ("analytic", "tem-t")
#: ``memory.beta``: the fixed retrieval gain, per unit of the drive u
DEFAULT_BETA = 0.35
#: how memory neurons turn their rate into spikes (``memory.spiking``)
MEMORY_SPIKING = ("deterministic", "poisson")
#: the shipped TEM-t whose modules ``mec.source = "tem-t"`` uses when ``mec.checkpoint`` is
#: empty (cyclic modules, square worlds)
DEFAULT_MEC_CHECKPOINT = "cyclic"


@dataclass(frozen=True)
class MECParams:
    """Medial entorhinal cortex: grid modules.

    The modules are path-integrated by action-gated conjunctive cells.

    ``source="analytic"``: modules of the given ``spacings``
    (:func:`models.grid_codes.make_grid_modules`). ``source="tem-t"``: the cyclic modules of a
    trained TEM-t (``checkpoint``; empty: the shipped :data:`DEFAULT_MEC_CHECKPOINT`), whose
    learned, quantised action shifts drive the conjunctive cells
    (:func:`models.grid_codes.grid_modules_from_tem_t`; the checkpoint must be
    path-consistent and tell every node of the world apart). A checkpoint with
    ``source="analytic"`` is refused: it would be ignored.
    """

    source: str = "analytic"  # where the modules come from: "analytic" or "tem-t"
    checkpoint: str = ""  # source "tem-t": a shipped checkpoint's name or a .pt path
    # (empty: DEFAULT_MEC_CHECKPOINT); must stay empty with source "analytic"
    spacings: tuple[int, ...] = (3, 4, 5, 6)  # lambda_m: module spacings (source "analytic")
    bump_peak: int = 3  # spikes of a module's current-phase cell in the bump code
    bump_side: int = 1  # spikes of each cell one action away (graded key . query)
    drift: float = 0.0  # probability per step and module of a wrong phase update
    loop_closure: bool = True  # memory recall corrects the phase at the hold time
    closure_votes: float = 4.0  # each recall spike is 1/closure_votes of a vote; the path-
    # integrated phase holds half a vote, so > closure_votes / 2 recall spikes on another
    # phase override it (one or two stray spikes at a first visit must not)

    @property
    def checkpoint_name(self) -> str:
        """The checkpoint of ``source="tem-t"``: ``checkpoint``, or the default if empty."""
        return self.checkpoint or DEFAULT_MEC_CHECKPOINT

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        _choice("mec.source", self.source, MEC_SOURCES)
        if not isinstance(self.checkpoint, str):
            raise ValueError("mec.checkpoint must name a shipped checkpoint (e.g. 'cyclic') "
                             f"or give a path to a .pt file, got {self.checkpoint!r}")
        if self.checkpoint and self.source != "tem-t":
            raise ValueError(f"mec.checkpoint {self.checkpoint!r} is only used with "
                             f"mec.source 'tem-t' (--mec-source tem-t), not "
                             f"{self.source!r}; set both, or neither")
        if not self.spacings or min(self.spacings) < 2:
            raise ValueError("mec.spacings must list module spacings >= 2")
        _int_at_least("mec.bump_peak", self.bump_peak, 1)
        _int_at_least("mec.bump_side", self.bump_side, 0)
        if self.bump_side > self.bump_peak:
            raise ValueError("mec.bump_side must not exceed mec.bump_peak")
        if not 0 <= self.drift < 1:
            raise ValueError(f"mec.drift must lie in [0, 1), got {self.drift}")
        if self.closure_votes <= 0:
            raise ValueError("mec.closure_votes must be > 0")


@dataclass(frozen=True)
class MemoryParams:
    """Hippocampal memory neurons (one recruited per step) and their interneurons."""

    n: int = 512  # memory neurons available (one recruited per step)
    recycle: bool = False  # when all are used, overwrite the oldest (else refuse)
    beta: float = DEFAULT_BETA  # beta_s: gain of the exponential rate per unit of key . query
    # (the drive u); must stay at its default when beta_scale is set
    beta_scale: float | None = None  # b: when set, the gain follows TEM-t's inverse
    # temperature b log(1 + N) on the key-query cosine, N the memories stored so far:
    # beta_s = b log(1 + N) / M (M: the drive of a full match, so u / M is the cosine
    # when keys and queries have the same norm); None: the fixed gain beta
    spiking: str = "deterministic"  # "deterministic": integrate-and-fire at threshold 1
    # (counts are the integrated rate, rounded down); "poisson": the threshold is redrawn
    # from Exp(1) after every spike, so spikes are an inhomogeneous Poisson process of the
    # same rate and a step's counts are samples of the softmax (Nessler et al. 2013)
    rate: Quantity = _q(4000 * Hz)  # r_max: rate of a memory with a full match, c = 0
    inhibition: float = 0.05  # increase of c per memory spike (interneuron drive)
    target_rate: Quantity = _q(6000 * Hz)  # total memory activity the interneurons aim at
    max_boost: float = 2.5  # largest disinhibition (c >= -max_boost) when matches are weak
    # (retrieval only: during recall c >= 0, so weak matches stay weak in absolute terms)
    tau_input: Quantity = _q(1000 * ms)  # decay of the key . query drive u (theta resets it)
    recall_key_beta: float = 6.0  # beta_k: gain per mismatched module during recall
    recall_tolerated_modules: float = 1.0  # s: modules whose phase may differ from the
    # memory's key without penalty during recall (1: one drifted module can be corrected)
    recall_obs_beta: float = 6.0  # beta_o: gain of the observation's overlap with the
    # stored value (fraction of its LEC cells) during recall
    recall_gain: float = 2.0  # rate multiplier during recall (observation to hold)
    lec_per_symbol: int = 8  # LEC cells of each symbol (sparse population code)
    n_lec: int = 360  # LEC cells

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        _int_at_least("memory.n", self.n, 1)
        _int_at_least("memory.lec_per_symbol", self.lec_per_symbol, 1)
        _int_at_least("memory.n_lec", self.n_lec, 1)
        if self.lec_per_symbol > self.n_lec:
            raise ValueError("memory.lec_per_symbol must be <= memory.n_lec")
        for name in ("rate", "target_rate", "tau_input"):
            _positive(f"memory.{name}", getattr(self, name))
        if self.beta <= 0:
            raise ValueError("memory.beta must be > 0")
        if self.beta_scale is not None and not self.beta_scale > 0:
            raise ValueError(f"memory.beta_scale must be > 0 (TEM-t's b), or None for the "
                             f"fixed gain memory.beta; got {self.beta_scale!r}")
        if self.beta_scale is not None and self.beta != DEFAULT_BETA:
            raise ValueError(f"memory.beta ({self.beta}) and memory.beta_scale "
                             f"({self.beta_scale}) both set the retrieval gain; set one")
        _choice("memory.spiking", self.spiking, MEMORY_SPIKING)
        if self.recall_gain < 1:
            raise ValueError("memory.recall_gain must be >= 1")
        if self.max_boost < 0:
            raise ValueError("memory.max_boost must be >= 0")
        if self.recall_tolerated_modules < 0:
            raise ValueError("memory.recall_tolerated_modules must be >= 0")
        if self.inhibition < 0 or self.recall_key_beta < 0 or self.recall_obs_beta < 0:
            raise ValueError("memory.inhibition, recall_key_beta and recall_obs_beta must "
                             "be >= 0")


@dataclass(frozen=True)
class LoopTiming:
    """Times within a step slot (see the module docstring)."""

    step: Quantity = _q(20 * ms)  # one step of the walk (a theta cycle)
    retrieval: Quantity = _q(8 * ms)  # prediction window from the slot onset
    observation: Quantity = _q(9 * ms)  # observation / write time
    hold: Quantity = _q(12 * ms)  # the hold race starts (closure decides the phase)
    decision: Quantity = _q(3 * ms)  # duration of the hold race (ramp)
    action: Quantity = _q(19 * ms)  # action cell fires (after the arbiter's delays: up to
    # 36 phases x dt for the spacing-6 module of a hexagonal world)
    dt: Quantity = _q(0.1 * ms)

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        order = [self.retrieval, self.observation, self.hold, self.action, self.step]
        if any(float(a) >= float(b) for a, b in itertools.pairwise(order)):
            raise ValueError("timing: need retrieval < observation < hold < action < step")
        _positive("timing.dt", self.dt)
        _positive("timing.decision", self.decision)
        if self.hold + self.decision > self.action:
            raise ValueError("timing.hold + timing.decision must not exceed timing.action")
        if self.step - self.action < 5 * self.dt:
            raise ValueError("timing.step must leave >= 5 time steps after timing.action")


@dataclass(frozen=True)
class HippocampusParams:
    """All parameters of the spiking entorhinal-hippocampal loop."""

    backend: str = "numpy"
    mec: MECParams = field(default_factory=MECParams)
    memory: MemoryParams = field(default_factory=MemoryParams)
    timing: LoopTiming = field(default_factory=LoopTiming)
    pathway_gating: bool = True  # run the LEC->HPC pathway only on LEC spikes that can drive
    # recall, and the key/value learning pathways only on recruiting spikes (custom events;
    # every skipped update adds exactly zero). False: every pathway on every spike, the
    # reference (circuits.hippocampus.network)

    def validate(self) -> None:
        """Check every field and every part; raise ``ValueError`` naming the first invalid one.

        A ``timing.dt`` too small for the memory budget raises
        :class:`models._memory.MemoryBudgetError` (a ``ValueError``).
        """
        _choice("backend", self.backend, ("numpy", "cython", "cpp_standalone"))
        if not isinstance(self.pathway_gating, bool):
            raise ValueError(f"pathway_gating must be true or false, got "
                             f"{self.pathway_gating!r}")
        self.mec.validate()
        self.memory.validate()
        self.timing.validate()
        self._check_time_step()

    def _check_time_step(self) -> None:
        """Refuse a ``timing.dt`` whose gate arrays would not fit the memory budget.

        Even for the shortest walk (one step: two slots). Each of the (up to) three gate TimedArrays
        of :func:`circuits.hippocampus.network.present_walk` holds ``timing.step / timing.dt``
        float64 a slot, built by ``np.tile`` and copied by Brian2. The full estimate for a walk is
        :func:`circuits.hippocampus.protocol.check_loop_memory`.
        """
        from models._memory import refuse_over_budget

        per_slot = float(self.timing.step / self.timing.dt)
        refuse_over_budget("timing.dt", self.timing.dt, 2 * 3 * 8 * 2 * per_slot,
                           f"{per_slot:.3g} time steps a walk step (timing.step / timing.dt) "
                           f"in each of three gate TimedArrays")

