"""Parameters of the cerebellar SDM circuit (and its mushroom-body preset).

One frozen dataclass per population, gathered in :class:`CerebellumParams`. Every field
carries its physical unit (Brian2 quantities) and a comment with its symbol and source.
:func:`derive` turns a parameter set into the quantities the network needs (granule
threshold weight, Purkinje tonic current, nuclear drive, delays) and raises one clear
:class:`ValueError` naming the field for an infeasible combination.

Design (see ``docs`` in the module :mod:`circuits.cerebellum`):

- Mossy fibres carry each address bit on two rails (on/off). In the ``regular`` firing mode
  all active rails fire together every ``1/rate`` (volleys) during the stimulus.
- A granule cell sums the rails of its address (full design: all ``n``; selected design:
  ``k`` rails). Its synaptic weight is calibrated so that one volley brings it over threshold
  exactly when at least ``c* = n - d`` of its rails are active (``d``: Hamming radius).
- Golgi cells (feedforward from mossy fibres, feedback from granule cells) fire a few ms
  after the first volley and inhibit granule cells with an IPSC that outlasts the
  stimulus: later volleys cannot add to the first, so the coding level is the radius-``d``
  ball whatever the mossy-fibre rate. Without Golgi cells, volleys summate and the coding
  level rises with the rate.
- Each active granule cell fires one spike per presentation; its parallel fibre contacts
  every Purkinje cell (weight ``w``) and one molecular-layer interneuron, which relays it as
  one spike to every Purkinje cell with the baseline weight ``w0``. The Purkinje cell
  therefore receives ``sum_i (w_i - w0)``: the SDM sum of counters with
  ``counter = (w0 - w) / ltp``.
- Plasticity: a PF spike potentiates by ``ltp``; a climbing-fibre spike depresses every
  PF synapse by ``ltd * K(dt)``, ``K`` a normalised gamma-shaped window of the PF-CF
  interval (peak at ``window_peak``). With ``ltd = 2 ltp`` a write with the climbing fibre
  changes the weight by ``-ltp`` and one without by ``+ltp``: Kanerva's bipolar counter.
- Read: a Purkinje cell whose counters sum to > 0 receives net inhibition and pauses; its
  nuclear cell, reset by every Purkinje spike, fires when the pause exceeds the baseline
  inter-spike interval by ``margin``: the nuclear cell fires for a stored 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import brian2.units as brian2_units
import numpy as np
from brian2 import Hz, Quantity, ms, mV, pA, pF, second
from scipy.stats import binom

import circuits.units  # noqa: F401  (registers quantities with the config loader)
from circuits._fields import check_choice_field as _choice
from circuits._fields import check_dimensions as _dimensions
from circuits._fields import check_int_at_least as _int_at_least
from circuits._fields import check_positive as _positive
from circuits._fields import optional_quantity_field as _optional_q
from circuits._fields import quantity_field as _q

__all__ = [
    "CerebellumParams",
    "ClimbingFibreParams",
    "Derived",
    "GolgiParams",
    "GranuleParams",
    "InterneuronParams",
    "MossyFibreParams",
    "NucleiParams",
    "PlasticityParams",
    "ProtocolParams",
    "PurkinjeParams",
    "derive",
    "granule_unit_response",
    "mushroom_body",
    "window_kernel",
]


@dataclass(frozen=True)
class MossyFibreParams:
    """Mossy fibres (projection neurons in the mushroom body)."""

    rate: Quantity = _q(50 * Hz)  # f_MF: rate of an active rail (MF 10-200 Hz in vivo)
    off_rate: Quantity = _q(0 * Hz)  # rate of an inactive rail
    firing: str = "regular"  # "regular": synchronous volleys every 1/rate; "poisson"
    rails: str = "two"  # "two": on and off rail per bit (Kanerva 0/1 matching); "one": on only
    activity: float = 0.5  # expected fraction of 1 bits in inputs (sets one-rail expectations)
    stimulus: Quantity = _q(30 * ms)  # T_stim: how long active rails fire per presentation
    calibration_rate: Quantity | None = _optional_q(1 * Hz)  # rate the granule weights are
    # tuned for (None: ``rate``); Poisson input only, volleys need no rate. Set it to study inputs
    # arriving at rates the circuit was not tuned for.

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        _positive("mossy.rate", self.rate)
        if self.calibration_rate is not None:
            _dimensions("mossy.calibration_rate", self.calibration_rate, Hz)
            _positive("mossy.calibration_rate", self.calibration_rate)
        if float(self.off_rate) < 0:
            raise ValueError(f"mossy.off_rate must be >= 0 Hz, got {self.off_rate}")
        _choice("mossy.firing", self.firing, ("regular", "poisson"))
        _choice("mossy.rails", self.rails, ("two", "one"))
        if not 0 < self.activity < 1:
            raise ValueError(f"mossy.activity must lie in (0, 1), got {self.activity}")
        _positive("mossy.stimulus", self.stimulus)


@dataclass(frozen=True)
class GranuleParams:
    """Granule cells: the hard locations (Kanerva) or selected-coordinate cells (Jaeckel)."""

    n: int = 4000  # r: number of granule cells (hard locations)
    design: str = "full"  # "full": all n bits (Kanerva 1988); "selected": k bits (Jaeckel 1989)
    inputs: int = 4  # k: rails per cell in the selected design (3.9 MF per GrC in mouse)
    mismatches: int = 0  # selected design: inactive rails tolerated (0: all k must be active)
    radius: int | None = None  # d: Hamming radius of the full design (None: from coding level)
    coding_level: float | None = 0.03  # target fraction of active cells (Golgi-held)
    C: Quantity = _q(3 * pF)  # C_m: membrane capacitance (D'Angelo et al. 1995: ~3 pF)
    tau_m: Quantity = _q(4 * ms)  # tau_m: membrane time constant (GrC: high input resistance)
    E_L: Quantity = _q(-70 * mV)  # resting potential
    V_th: Quantity = _q(-40 * mV)  # spike threshold
    V_reset: Quantity = _q(-70 * mV)  # reset potential
    refractory: Quantity = _q(2 * ms)  # absolute refractory period
    tau_e: Quantity = _q(1 * ms)  # tau_AMPA: MF->GrC synaptic current decay (fast EPSC)
    tau_inh: Quantity = _q(10 * ms)  # Golgi IPSC decay (phasic + spillover, Rossi 1998)
    mf_delay: Quantity = _q(0.5 * ms)  # MF->GrC synaptic delay

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        _int_at_least("granule.n", self.n, 1)
        _choice("granule.design", self.design, ("full", "selected"))
        _int_at_least("granule.inputs", self.inputs, 1)
        _int_at_least("granule.mismatches", self.mismatches, 0)
        if self.mismatches >= self.inputs:
            raise ValueError(f"granule.mismatches ({self.mismatches}) must be smaller than "
                             f"granule.inputs ({self.inputs})")
        if self.radius is not None:
            _int_at_least("granule.radius", self.radius, 0)
        if self.coding_level is not None and not 0 < self.coding_level < 1:
            raise ValueError(f"granule.coding_level must be in (0, 1), got {self.coding_level}")
        if self.design == "full" and (self.radius is None) == (self.coding_level is None):
            raise ValueError("give exactly one of granule.radius and granule.coding_level "
                             "for the full design")
        for name in ("C", "tau_m", "tau_e", "tau_inh"):
            _positive(f"granule.{name}", getattr(self, name))
        if not self.V_th > self.E_L:
            raise ValueError("granule.V_th must be above granule.E_L")
        if self.tau_e >= self.tau_m:
            raise ValueError("granule.tau_e must be shorter than granule.tau_m")


@dataclass(frozen=True)
class GolgiParams:
    """Golgi cells (APL in the mushroom body): feedforward and feedback inhibition."""

    enabled: bool = True  # False: hard radius, volleys summate (coding level rises with rate)
    ratio: int = 430  # GrC per GoC (GoC:GrC ~ 1:430)
    minimum: int = 4  # at least this many Golgi cells
    feedforward: bool = True  # MF -> GoC drive
    feedback: bool = True  # GrC -> GoC drive
    inputs_per_granule: int = 4  # GoC synapsing on each GrC
    C: Quantity = _q(50 * pF)  # GoC capacitance
    tau_m: Quantity = _q(10 * ms)  # GoC membrane time constant
    E_L: Quantity = _q(-60 * mV)
    V_th: Quantity = _q(-50 * mV)
    V_reset: Quantity = _q(-60 * mV)
    refractory: Quantity = _q(2 * ms)
    mf_drive: float = 3.0  # one volley of active rails, in units of the GoC threshold
    feedback_drive: float = 0.05  # one GrC spike (per expected active GrC), in thresholds
    inhibition: Quantity = _q(30 * pA)  # I_GoC: inhibitory current jump per GoC spike
    mf_delay: Quantity = _q(0.5 * ms)  # MF -> GoC delay
    grc_delay: Quantity = _q(0.5 * ms)  # GrC -> GoC delay
    inhibition_delay: Quantity = _q(1.5 * ms)  # GoC -> GrC delay

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        _int_at_least("golgi.ratio", self.ratio, 1)
        _int_at_least("golgi.minimum", self.minimum, 1)
        _int_at_least("golgi.inputs_per_granule", self.inputs_per_granule, 1)
        for name in ("C", "tau_m", "inhibition"):
            _positive(f"golgi.{name}", getattr(self, name))
        if self.mf_drive < 0 or self.feedback_drive < 0:
            raise ValueError("golgi.mf_drive and golgi.feedback_drive must be >= 0")


@dataclass(frozen=True)
class PurkinjeParams:
    """Purkinje cells (mushroom-body output neurons): one per output element."""

    C: Quantity = _q(200 * pF)  # C_m
    tau_m: Quantity = _q(20 * ms)  # membrane time constant
    E_L: Quantity = _q(-65 * mV)
    V_th: Quantity = _q(-50 * mV)
    V_reset: Quantity = _q(-65 * mV)
    refractory: Quantity = _q(2 * ms)
    rate: Quantity = _q(50 * Hz)  # baseline simple-spike rate (~50 Hz in vitro)
    tau_syn: Quantity = _q(10 * ms)  # PF and MLI synaptic current decay
    counter_gain: Quantity = _q(2 * mV)  # membrane kick of one counter unit (ltp of weight)
    V_floor: Quantity = _q(-85 * mV)  # lowest potential (bounds the pause after inhibition)
    pf_connectivity: float = 1.0  # fraction of granule cells contacting each Purkinje cell

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        for name in ("C", "tau_m", "rate", "tau_syn", "counter_gain"):
            _positive(f"purkinje.{name}", getattr(self, name))
        if not 0 < self.pf_connectivity <= 1:
            raise ValueError(f"purkinje.pf_connectivity must be in (0, 1], "
                             f"got {self.pf_connectivity}")
        if not self.V_th > self.E_L:
            raise ValueError("purkinje.V_th must be above purkinje.E_L")
        if not self.V_floor < self.E_L:
            raise ValueError("purkinje.V_floor must be below purkinje.E_L")
        if self.refractory >= 1 / self.rate:
            raise ValueError("purkinje.refractory must be shorter than 1/purkinje.rate")


@dataclass(frozen=True)
class InterneuronParams:
    """Molecular-layer interneurons (basket/stellate): feedforward inhibition of PCs.

    Modelled as linear relays: an integrator with threshold half a PF input; a spike
    transmits the number of PF inputs integrated since the last one (``round(v)``, then
    subtracted), so the inhibition a Purkinje cell receives is ``w0`` times its PF input
    count, arriving in the same step as the PF excitation.
    """

    granule_per_interneuron: int = 32  # PF inputs per MLI (sets the MLI count)
    pf_delay: Quantity = _q(0.5 * ms)  # PF -> MLI delay (MLI -> PC acts within the step)

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        _int_at_least("interneuron.granule_per_interneuron", self.granule_per_interneuron, 1)


@dataclass(frozen=True)
class NucleiParams:
    """Deep cerebellar nuclear cells: one per Purkinje cell, fire during its pauses."""

    tau_m: Quantity = _q(10 * ms)
    E_L: Quantity = _q(-60 * mV)
    V_th: Quantity = _q(-50 * mV)
    V_reset: Quantity = _q(-60 * mV)
    V_hyper: Quantity = _q(-70 * mV)  # potential a Purkinje spike resets the DCN cell to
    refractory: Quantity = _q(1 * ms)
    margin: Quantity = _q(3 * ms)  # PC silence beyond the baseline interval that makes a spike

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        _positive("nuclei.tau_m", self.tau_m)
        _positive("nuclei.margin", self.margin)
        if not self.V_hyper < self.V_th:
            raise ValueError("nuclei.V_hyper must be below nuclei.V_th")


@dataclass(frozen=True)
class PlasticityParams:
    """PF->PC plasticity gated by the climbing fibre (Marr-Albus-Ito)."""

    baseline_weight: float = 1.0  # w0: PF->PC weight before learning (counter 0)
    counter_range: int = 8  # w0 / ltp: counter units between w0 and w_min
    window_peak: Quantity = _q(100 * ms)  # PF-before-CF interval of strongest LTD (50-150 ms)
    window_stages: int = 5  # S: stages of the event-driven trace chain (gamma shape)
    ltd_ratio: float = 2.0  # ltd / ltp: 2 gives symmetric +-ltp counters
    pairing: str = "all"  # "all": every earlier PF spike (S traces per synapse); "nearest":
    # the latest PF spike only (one spike time per synapse: far less memory at scale; the
    # same window whenever a granule cell fires once per presentation, as with Golgi cells)

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        if not self.baseline_weight > 0:
            raise ValueError("plasticity.baseline_weight must be > 0")
        _int_at_least("plasticity.counter_range", self.counter_range, 1)
        _positive("plasticity.window_peak", self.window_peak)
        _int_at_least("plasticity.window_stages", self.window_stages, 2)
        if not self.ltd_ratio >= 0:
            raise ValueError("plasticity.ltd_ratio must be >= 0")
        _choice("plasticity.pairing", self.pairing, ("all", "nearest"))

    @property
    def ltp(self) -> float:
        """LTP per PF spike (weight units): ``w0 / counter_range``."""
        return self.baseline_weight / self.counter_range

    @property
    def ltd(self) -> float:
        """LTD at the window peak per PF spike paired with a CF spike."""
        return self.ltd_ratio * self.ltp

    @property
    def tau(self) -> Quantity:
        """Time constant of each trace stage: ``window_peak / (S - 1)``."""
        return self.window_peak / (self.window_stages - 1)


@dataclass(frozen=True)
class ClimbingFibreParams:
    """Climbing fibres (dopaminergic neurons in the mushroom body): one per PC."""

    pairing: Quantity | None = _optional_q(1 * ms)  # CF time after the PF volley (None: the
    # window peak)

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        if self.pairing is not None:
            _dimensions("climbing.pairing", self.pairing, ms)
        if self.pairing is not None and float(self.pairing) < 0:
            raise ValueError("climbing.pairing must be >= 0 ms")


@dataclass(frozen=True)
class ProtocolParams:
    """Presentation timing."""

    write_slot: Quantity = _q(250 * ms)  # one write presentation, rest included
    read_slot: Quantity = _q(120 * ms)  # one read presentation, rest included
    decode_window: Quantity = _q(100 * ms)  # DCN spikes counted from onset for this long
    dt: Quantity = _q(0.1 * ms)  # simulation time step

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        for name in ("write_slot", "read_slot", "decode_window", "dt"):
            _positive(f"protocol.{name}", getattr(self, name))
        if self.decode_window > self.read_slot:
            raise ValueError("protocol.decode_window must fit in protocol.read_slot")


@dataclass(frozen=True)
class CerebellumParams:
    """All parameters of the cerebellar SDM circuit."""

    address_bits: int = 64  # n: key length (bits)
    value_bits: int = 64  # number of output elements (Purkinje cells)
    backend: str = "numpy"  # "numpy" | "cython" | "cpp_standalone"
    preset: str = "cerebellum"  # population names: "cerebellum" or "mushroom_body"
    mossy: MossyFibreParams = field(default_factory=MossyFibreParams)
    granule: GranuleParams = field(default_factory=GranuleParams)
    golgi: GolgiParams = field(default_factory=GolgiParams)
    purkinje: PurkinjeParams = field(default_factory=PurkinjeParams)
    interneuron: InterneuronParams = field(default_factory=InterneuronParams)
    nuclei: NucleiParams = field(default_factory=NucleiParams)
    plasticity: PlasticityParams = field(default_factory=PlasticityParams)
    climbing: ClimbingFibreParams = field(default_factory=ClimbingFibreParams)
    protocol: ProtocolParams = field(default_factory=ProtocolParams)

    def validate(self) -> None:
        """Check every field and every part, then the derived quantities (:func:`derive`).

        Raises
        ------
        ValueError
            Naming the first invalid field or infeasible combination
            (:class:`models._memory.MemoryBudgetError` when ``protocol.dt`` is too small for the
            memory budget).
        """
        _int_at_least("address_bits", self.address_bits, 1)
        _int_at_least("value_bits", self.value_bits, 1)
        _choice("backend", self.backend, ("numpy", "cython", "cpp_standalone"))
        _choice("preset", self.preset, ("cerebellum", "mushroom_body"))
        for part in (self.mossy, self.granule, self.golgi, self.purkinje, self.interneuron,
                     self.nuclei, self.plasticity, self.climbing, self.protocol):
            part.validate()
        self._check_time_step()
        derive(self)  # raises for infeasible combinations

    def _check_time_step(self) -> None:
        """Refuse a ``protocol.dt`` whose granule calibration would not fit the memory budget.

        The granule calibration of :func:`derive` (:func:`granule_unit_response`) takes ``5
        granule.tau_m / protocol.dt`` samples, about four float64 arrays of that length: times, two
        exponentials, their difference. The budget is ``MEMCIRCUITS_MEMORY_BUDGET_GIB`` or 80% of
        physical memory.
        """
        from models._memory import refuse_over_budget

        samples = float(5 * self.granule.tau_m / self.protocol.dt)
        refuse_over_budget("protocol.dt", self.protocol.dt, 4 * 8 * samples,
                           f"{samples:.3g} samples of the granule calibration, "
                           f"5 granule.tau_m / protocol.dt")

    @property
    def population_names(self) -> dict[str, str]:
        """Display names of the populations for this preset."""
        if self.preset == "mushroom_body":
            return {"mossy": "PN", "granule": "KC", "golgi": "APL", "purkinje": "MBON",
                    "interneuron": "FFI", "nuclei": "OUT", "climbing": "DAN"}
        return {"mossy": "MF", "granule": "GrC", "golgi": "GoC", "purkinje": "PC",
                "interneuron": "MLI", "nuclei": "DCN", "climbing": "CF"}


def mushroom_body(**overrides) -> CerebellumParams:
    """The mushroom-body preset built by the same code.

    Projection neurons (one rail per glomerulus, ~45% active per odour) -> Kenyon cells
    (selected design, 6 inputs, fire with >= 5 active; APL feedback inhibition) -> output
    neurons (MBONs) with dopamine-gated (DAN) depression of KC->MBON synapses. Expected
    Kenyon-cell sparseness: P(>=5 of 6 active) ~ 7% at 45% PN activity (5-10%, Lin 2014).
    Two output neurons: one per valence (one-hot values).
    """
    params = CerebellumParams(
        address_bits=50,
        value_bits=2,
        preset="mushroom_body",
        mossy=MossyFibreParams(rails="one", activity=0.45),
        granule=GranuleParams(n=2000, design="selected", inputs=6, mismatches=1,
                              coding_level=None),
        golgi=GolgiParams(ratio=2000, minimum=1, inputs_per_granule=1, feedforward=False,
                          feedback_drive=0.1),
    )
    return replace(params, **overrides)


@dataclass(frozen=True)
class Derived:
    """Quantities the network needs, derived from :class:`CerebellumParams`."""

    radius: int | None  # d (full design)
    threshold_count: int  # c*: active rails needed for a spike
    expected_coding_level: float  # P(cell active) for a random uniform key
    granule_weight: Quantity  # J: MF->GrC current jump per spike
    granule_latency: Quantity  # time from volley to the spike of a c*-cell
    n_golgi: int
    n_interneurons: int
    pf_unit_current: Quantity  # PC current jump per unit PF weight
    pf_delay: Quantity  # PF -> PC delay (matches the PF -> MLI -> PC path)
    pc_tonic: Quantity  # tonic current giving the baseline rate
    pc_interval: Quantity  # baseline inter-spike interval
    dcn_drive: Quantity  # R*I of the DCN tonic drive (volts)
    cf_offset: Quantity  # CF time after the presentation onset
    window_norm: float  # peak of the last trace after one PF spike (normalises K to 1)
    window_tail: Quantity  # PF-CF interval beyond which K < 1% of its peak


def window_kernel(interval: np.ndarray, peak: Quantity, stages: int) -> np.ndarray:
    r"""Normalised LTD window for PF spikes ``interval`` before the CF spike.

    A chain of ``S`` event-driven exponential traces with time constant
    :math:`\tau = t_{peak} / (S - 1)` gives, for a PF spike at :math:`-\Delta t`,

    .. math:: K(\Delta t) = \frac{u^{S-1} e^{-u}}{(S-1)^{S-1} e^{-(S-1)}},
              \quad u = \Delta t / \tau, \quad \Delta t \ge 0,

    which peaks at 1 when :math:`\Delta t = t_{peak}` and is 0 for PF spikes after the CF.
    """
    interval = np.asarray(interval, dtype=float)
    tau = float(peak / second) / (stages - 1)
    u = np.clip(interval, 0, None) / tau
    order = stages - 1
    with np.errstate(divide="ignore"):
        log_k = order * np.log(u) - u - (order * math.log(order) - order)
    return np.where(interval > 0, np.exp(log_k), 0.0)


def _window_tail(peak: Quantity, stages: int, level: float = 0.01) -> Quantity:
    grid = np.linspace(float(peak / second), 20 * float(peak / second), 20000)
    values = window_kernel(grid, peak, stages)
    return float(grid[np.argmax(values < level)]) * second


def granule_unit_response(granule: GranuleParams, dt: Quantity,
                          duration: Quantity | None = None) -> np.ndarray:
    r"""Membrane response of a granule cell to a unit jump of its synaptic current.

    In volts above rest, per ampere, at the simulation steps that follow the jump.

    The granule cell is a linear current-based LIF integrated exactly, so the response to
    a current step :math:`I(0) = 1` sampled after ``k + 1`` steps is

    .. math:: u_k = \frac{\tau_e \tau_m}{C (\tau_m - \tau_e)}
              \left(e^{-t_k/\tau_m} - e^{-t_k/\tau_e}\right), \quad t_k = (k + 1)\,dt,

    which is what the threshold sees: the calibration is exact at any ``dt``.
    """
    C, tau_m, tau_e = (float(granule.C / brian2_units.farad), float(granule.tau_m / second),
                       float(granule.tau_e / second))
    steps = round(float((duration if duration is not None else 5 * granule.tau_m) / dt))
    t = (np.arange(steps) + 1) * float(dt / second)
    return tau_e * tau_m / (C * (tau_m - tau_e)) * (np.exp(-t / tau_m) - np.exp(-t / tau_e))


def derive(params: CerebellumParams) -> Derived:
    """Derive the network's calibrated quantities; raise naming the field if infeasible.

    Computed once per parameter object: ``params`` is frozen, so the result is kept on it and
    every later call (validation, the circuit, the network builder, the plasticity kernel,
    the memory guard) returns the same :class:`Derived`. ``dataclasses.replace`` makes a new
    object, derived afresh.
    """
    cached = params.__dict__.get("_derived")
    if cached is not None:
        return cached
    derived = _derive(params)
    object.__setattr__(params, "_derived", derived)  # frozen: set past the dataclass guard
    return derived


def _derive(params: CerebellumParams) -> Derived:
    g, n = params.granule, params.address_bits
    if g.design == "full":
        if g.radius is not None:
            radius = g.radius
            if radius > n:
                raise ValueError(f"granule.radius ({radius}) must be <= address_bits ({n})")
        else:
            radius = radius_for_coding_level(n, g.coding_level, g.n)
        threshold = n - radius
        level = float(binom.cdf(radius, n, 0.5))
    else:
        radius = None
        if g.inputs > n:
            raise ValueError(f"granule.inputs ({g.inputs}) must be <= address_bits ({n})")
        threshold = g.inputs - g.mismatches
        # P(at least `threshold` of k rails active): two rails match a uniform bit with
        # probability 1/2; one rail is active with the input activity.
        p_rail = 0.5 if params.mossy.rails == "two" else params.mossy.activity
        level = float(binom.sf(threshold - 1, g.inputs, p_rail))
        if g.coding_level is not None and abs(math.log(level / g.coding_level)) > math.log(1.5):
            raise ValueError(
                f"granule.coding_level {g.coding_level} is impossible for the selected design "
                f"with {g.inputs} inputs and {g.mismatches} mismatches (it gives {level:.4g}); "
                f"change granule.inputs/mismatches or set granule.coding_level = none")
    if threshold < 1:
        raise ValueError("the granule threshold needs at least one active rail "
                         "(radius < address_bits)")
    if level * g.n < 1:
        raise ValueError(f"granule.coding_level x granule.n = {level * g.n:.3g} < 1: "
                         f"no granule cell would be active; raise granule.n or the level")
    if params.mossy.firing == "regular":
        response = granule_unit_response(g, params.protocol.dt)
        # (c* - 1/2) J max(u) = V_th - E_L: one volley on c* rails crosses, on c* - 1 not.
        weight = (g.V_th - g.E_L) / ((threshold - 0.5) * response.max() * brian2_units.ohm)
        theta = float((g.V_th - g.E_L) / brian2_units.volt)
        crossing = int(np.argmax(threshold * float(weight / brian2_units.amp) * response
                                 > theta))
        latency = (crossing + 1) * params.protocol.dt + g.mf_delay
    else:
        # Poisson input: the mean depolarisation of a cell with c active rails is
        # c f J tau_e tau_m / C; put the threshold at c* - 1/2 rails. Fluctuations make the
        # selection soft (a noisy SDM); cells cross about one membrane time constant in.
        nominal = params.mossy.calibration_rate or params.mossy.rate
        weight = (g.V_th - g.E_L) * g.C / ((threshold - 0.5) * nominal * g.tau_e * g.tau_m)
        latency = g.tau_m + g.mf_delay

    n_golgi = max(params.golgi.minimum, round(g.n / params.golgi.ratio))
    n_interneurons = max(1, math.ceil(g.n / params.interneuron.granule_per_interneuron))

    dt = params.protocol.dt
    pf_delay = params.interneuron.pf_delay + dt  # PF->MLI, MLI threshold step, MLI->PC 0
    p, pl = params.purkinje, params.plasticity
    # one counter unit (ltp of weight) kicks the membrane by counter_gain:
    #   ltp * I_unit * tau_syn / C = counter_gain  (tau_syn << tau_m)
    unit = p.counter_gain * p.C / (pl.ltp * p.tau_syn)
    interval = 1 / p.rate
    free = interval - p.refractory
    x = float((p.V_th - p.E_L) / mV) / (1 - math.exp(-float(free / p.tau_m)))
    tonic = x * mV / p.tau_m * p.C

    nu = params.nuclei
    gap = float((interval + nu.margin) / nu.tau_m)
    a = float((nu.V_hyper - nu.E_L) / mV)
    b = float((nu.V_th - nu.E_L) / mV)
    dcn_drive = (b * math.exp(gap) - a) / (math.exp(gap) - 1) * mV

    pairing = params.climbing.pairing
    if pairing is None:
        pairing = pl.window_peak
    cf_offset = latency + pf_delay + pairing
    order = pl.window_stages - 1
    # the last trace of the chain after one PF spike is (t/tau)^order/order! e^(-t/tau)
    norm = order ** order * math.exp(-order) / math.factorial(order)
    tail = _window_tail(pl.window_peak, pl.window_stages)

    proto = params.protocol
    # The next write's CF comes write_slot + pairing after this write's PF spikes: it must
    # fall outside the LTD window (K < 1%) so writes do not depress each other's synapses.
    needed = max(cf_offset + params.mossy.stimulus, tail - pairing)
    if proto.write_slot < needed:
        raise ValueError(
            f"protocol.write_slot ({proto.write_slot}) is shorter than the plasticity window: "
            f"the climbing fibre fires {cf_offset} after onset and the LTD window reaches "
            f"{tail} back from a CF spike; use at least {needed}")
    if params.mossy.stimulus > proto.read_slot or params.mossy.stimulus > proto.write_slot:
        raise ValueError("mossy.stimulus must fit in protocol.read_slot and write_slot")
    rest = params.mossy.stimulus + 8 * g.tau_inh
    if proto.read_slot < rest:
        raise ValueError(
            f"protocol.read_slot ({proto.read_slot}) leaves too little rest for Golgi "
            f"inhibition to decay before the next presentation; use at least {rest}")
    for name, value in (("interneuron.pf_delay", params.interneuron.pf_delay),):
        steps = float(value / dt)
        if abs(steps - round(steps)) > 1e-6:
            raise ValueError(f"{name} ({value}) must be a multiple of protocol.dt ({dt})")
    return Derived(
        radius=radius, threshold_count=threshold, expected_coding_level=level,
        granule_weight=weight, granule_latency=latency, n_golgi=n_golgi,
        n_interneurons=n_interneurons, pf_unit_current=unit, pf_delay=pf_delay,
        pc_tonic=tonic, pc_interval=interval, dcn_drive=dcn_drive, cf_offset=cf_offset,
        window_norm=norm, window_tail=tail,
    )


def radius_for_coding_level(n: int, coding_level: float, n_granule: int) -> int:
    """Hamming radius whose activation probability is nearest (in log) to ``coding_level``.

    Raises
    ------
    ValueError
        If no radius comes within a factor 2 of the target (the shells of ``{0,1}^n`` are
        too coarse there).
    """
    radii = np.arange(n + 1)
    levels = binom.cdf(radii, n, 0.5)
    best = int(np.argmin(np.abs(np.log(levels) - math.log(coding_level))))
    if abs(math.log(levels[best] / coding_level)) > math.log(2):
        raise ValueError(f"granule.coding_level {coding_level} is impossible for "
                         f"address_bits={n}: the nearest radius {best} gives "
                         f"{levels[best]:.3g}")
    return best
