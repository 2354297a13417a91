"""Build the cerebellar SDM circuit as explicit Brian2 objects.

:func:`build_network` takes a :class:`~circuits.cerebellum.params.CerebellumParams`, the
granule-cell wiring (addresses or selected coordinates) and a seed, and returns a
:class:`CerebellarNetwork` holding every group, synapse, monitor and the ``brian2.Network``.
It does not run anything; :mod:`circuits.cerebellum.protocol` presents inputs.

Populations (cerebellum name / mushroom-body name):

===============  ==========  ==========================================================
``mossy``        MF / PN     spike generators, one per rail
``granule``      GrC / KC    LIF, current-based MF input and Golgi inhibition
``golgi``        GoC / APL   LIF, voltage-jump MF (feedforward) and GrC (feedback) input
``interneuron``  MLI         linear relays of PF input (one spike per PF spike)
``purkinje``     PC / MBON   tonic LIF, current-based PF and MLI input, CF event
``climbing``     CF / DAN    spike generators, one per Purkinje cell
``nuclei``       DCN / OUT   pause detectors: reset by each Purkinje spike
===============  ==========  ==========================================================
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import brian2
import numpy as np
from brian2 import (
    NeuronGroup,
    SpikeGeneratorGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    ms,
    second,
)

from circuits.cerebellum.granule_kernel import (
    fused_granule,
    gated_relays,
    state_variables,
    uses_fused_granule,
)
from circuits.cerebellum.params import CerebellumParams, Derived, derive, granule_rest
from models.seeding import child_seed, numpy_rng


class _IndependentReleaseFilter(logging.Filter):
    """Drop Brian2's order-of-execution warning for the unreliable MF->GrC release.

    Each synapse draws its own release and adds its own term to the granule current; the
    sum does not depend on the order of the synapses, which is what the warning asks.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("may not be well-defined" in message and "release_probability" in message)


logging.getLogger("brian2.codegen.generators.base").addFilter(_IndependentReleaseFilter())

__all__ = [
    "RUN_PARAMETERS",
    "CerebellarNetwork",
    "GranuleWiring",
    "build_network",
    "golgi_weights",
    "initialise_pf_synapses",
    "mossy_nuclear_synapses",
    "nuclear_cells",
    "pf_purkinje_synapses",
    "purkinje_group",
    "random_wiring",
    "spike_table_group",
]


def choose_golgi(rng: np.random.Generator, n_granule: int, n_golgi: int, per_granule: int,
                 *, chunk_elements: int = 1 << 22) -> np.ndarray:
    """The ``per_granule`` Golgi cells of each granule cell: ``(n_granule, per_granule)``.

    Row ``k`` is the ``per_granule`` smallest of ``n_golgi`` uniform keys, in increasing key
    order (``argsort(keys)[:per_granule]``): a uniform draw without replacement. Rows are
    drawn in chunks of about ``chunk_elements`` keys, which consumes the generator's stream
    exactly as one ``(n_granule, n_golgi)`` draw would (same wiring for a seed) without
    holding that matrix: at 10^6 granule cells and 2326 Golgi cells it alone would take
    37 GB (keys and their argsort).
    """
    rows = max(1, chunk_elements // max(n_golgi, 1))
    out = np.empty((n_granule, per_granule), dtype=np.int64)
    for start in range(0, n_granule, rows):
        keys = rng.random((min(rows, n_granule - start), n_golgi))
        if per_granule < n_golgi:
            part = np.argpartition(keys, per_granule - 1, axis=1)[:, :per_granule]
        else:
            part = np.broadcast_to(np.arange(n_golgi), keys.shape)
        order = np.argsort(np.take_along_axis(keys, part, axis=1), axis=1)
        out[start:start + len(keys)] = np.take_along_axis(part, order, axis=1)
    return out


@dataclass(frozen=True)
class GranuleWiring:
    """Which mossy-fibre rails each granule cell receives.

    ``addresses`` (full design, ``(r, n)`` binary) or ``coordinates`` and ``targets``
    (selected design, ``(r, k)`` bit indices and the bit value each must match). The rail of
    bit ``j`` with value 1 is ``j`` (on rail), with value 0 is ``n + j`` (off rail).
    """

    addresses: np.ndarray | None = None
    coordinates: np.ndarray | None = None
    targets: np.ndarray | None = None

    def rails(self, n_bits: int, two_rails: bool) -> np.ndarray:
        """``(r, inputs)`` rail indices of each granule cell."""
        if self.addresses is not None:
            bits = np.arange(n_bits)[None, :].repeat(len(self.addresses), 0)
            values = self.addresses
        else:
            bits, values = self.coordinates, self.targets
        if not two_rails:
            return bits.astype(np.int64)
        return (bits + n_bits * (1 - values.astype(np.int64))).astype(np.int64)

    @property
    def n_granule(self) -> int:
        """Number of granule cells."""
        arr = self.addresses if self.addresses is not None else self.coordinates
        return len(arr)


def random_wiring(params: CerebellumParams, seed: int | None) -> GranuleWiring:
    """Random granule wiring for ``params`` (uniform addresses or coordinates), seeded."""
    rng = numpy_rng(seed, "granule_wiring")
    g, n = params.granule, params.address_bits
    if g.design == "full":
        return GranuleWiring(addresses=rng.integers(0, 2, size=(g.n, n), dtype=np.uint8))
    coordinates = np.argsort(rng.random((g.n, n)), axis=1)[:, : g.inputs]
    targets = (rng.integers(0, 2, size=(g.n, g.inputs), dtype=np.uint8)
               if params.mossy.rails == "two" else np.ones((g.n, g.inputs), np.uint8))
    return GranuleWiring(coordinates=np.sort(coordinates, axis=1).astype(np.int64),
                         targets=targets)


@dataclass
class CerebellarNetwork:
    """Every Brian2 object of one cerebellar circuit, plus the derived quantities."""

    params: CerebellumParams
    derived: Derived
    wiring: GranuleWiring
    network: brian2.Network
    groups: dict[str, brian2.Group]
    synapses: dict[str, brian2.Synapses]
    spike_monitors: dict[str, SpikeMonitor]
    drive_monitor: StateMonitor | None  # None for the granular layer alone
    pf_pre: np.ndarray  # presynaptic granule index of each PF->PC synapse
    pf_post: np.ndarray  # postsynaptic Purkinje index of each PF->PC synapse
    namespace: dict = field(default_factory=dict)  # holds the plasticity gate TimedArray
    kernel_drivers: dict[str, NeuronGroup] = field(default_factory=dict)  # population ->
    # driver of its compiled loop (circuits.cerebellum.granule_kernel): "granule" (its
    # ``stepped`` counts the steps the fused loop integrated), "interneuron" (threshold scans)


def spike_table_group(n: int, per_rail: int, name: str,
                      dt: brian2.Quantity) -> tuple[NeuronGroup, brian2.TimedArray]:
    """``n`` input fibres replaying a table of spike steps, and that table (a TimedArray).

    Table entry ``(k, i)`` is the time step (``t_in_timesteps``, steps of ``dt``) of the
    ``k``-th spike of fibre ``i``, or -1 (no more spikes); each fibre walks its column with
    a counter. The fibres fire in the same steps, in the same order, as a
    SpikeGeneratorGroup given those spikes, but new spikes (up to ``per_rail`` a fibre) only
    change the table's values, which ``device.run(run_args={table: values})`` sets without
    recompiling a standalone project. (The table's time axis is the counter: row ``k`` is
    read at ``k * dt``.)
    """
    table = brian2.TimedArray(np.full((per_rail + 1, n), -1.0), dt=dt, name=f"{name}_table")
    group = NeuronGroup(n, "spike_k : integer", threshold=(
        f"abs({name}_table(spike_k * table_dt, i) - t_in_timesteps) < 0.5"),
        reset="spike_k += 1", namespace={f"{name}_table": table, "table_dt": dt},
        name=f"{name}*")
    return group, table


def _granule(params: CerebellumParams, fused: bool) -> NeuronGroup:
    r"""Granule cells: current-based LIF, integrated exactly.

    .. math:: \tau_m \dot v = E_L - v + R (I_e - I_i), \quad
              \tau_e \dot I_e = -I_e, \quad \tau_{inh} \dot I_i = -I_i

    Mossy-fibre spikes add ``J`` to :math:`I_e`, Golgi spikes add ``I_GoC`` to :math:`I_i`.

    With ``golgi.mode == "rate"`` the inhibition is a GABA_A conductance instead, phasic
    (Golgi spikes add ``g_GoC`` to :math:`g_i`) plus tonic:

    .. math:: C \dot v = \frac{C}{\tau_m}(E_L - v) + I_e
              - (g_i + g_{tonic})(v - E_{GABA}), \quad \tau_{inh} \dot g_i = -g_i

    integrated with exponential Euler (the conductance makes the equation time-varying).
    With ``granule.slow_share > 0`` a slow (NMDA-like) current :math:`I_s`,
    :math:`\tau_{slow} \dot I_s = -I_s`, joins :math:`I_e` (each MF spike adds ``J_s``).

    With ``fused`` (``granule_kernel`` resolving to the fused loop in ``cpp_standalone``;
    :func:`~circuits.cerebellum.granule_kernel.uses_fused_granule`) the group holds the same
    variables without equations (:func:`~circuits.cerebellum.granule_kernel.state_variables`),
    and :func:`~circuits.cerebellum.granule_kernel.fused_granule` (called by
    :func:`build_network` once the synapses onto the layer exist) steps it.
    """
    g = params.granule
    if fused:
        units = {"v": "volt", "g_i": "siemens"}
        names = [f"{name} : {units.get(name, 'amp')}" for name in state_variables(params)]
        group = NeuronGroup(g.n, "\n".join(names), threshold="v > V_th", reset="",
                            namespace={"V_th": g.V_th}, name="granule*")
        group.v = granule_rest(g)[1] if params.golgi.mode == "rate" else g.E_L
        return group
    if params.golgi.mode == "rate":
        slow = g.slow_share > 0
        eqs = f"""
        dv/dt = (E_L - v) / tau_m + (I_e {'+ I_s ' if slow else ''}- (g_i + g_tonic) * (v - E_GABA)) / C : volt (unless refractory)
        dI_e/dt = -I_e / tau_e : amp
        dg_i/dt = -g_i / tau_inh : siemens
        """  # noqa: E501
        if slow:
            eqs += "dI_s/dt = -I_s / tau_slow : amp\n"
        group = NeuronGroup(g.n, eqs, threshold="v > V_th", reset="v = V_reset",
                            refractory=g.refractory, method="exponential_euler",
                            namespace={"E_L": g.E_L, "tau_m": g.tau_m, "C": g.C,
                                       "tau_e": g.tau_e, "tau_inh": g.tau_inh,
                                       "tau_slow": g.tau_slow,
                                       "V_th": g.V_th, "V_reset": g.V_reset,
                                       "g_tonic": g.g_tonic, "E_GABA": g.E_GABA},
                            name="granule*")
        group.v = granule_rest(g)[1]
        return group
    eqs = """
    dv/dt = (E_L - v) / tau_m + (I_e - I_i) / C : volt (unless refractory)
    dI_e/dt = -I_e / tau_e : amp
    dI_i/dt = -I_i / tau_inh : amp
    """
    group = NeuronGroup(g.n, eqs, threshold="v > V_th", reset="v = V_reset",
                        refractory=g.refractory, method="exact",
                        namespace={"E_L": g.E_L, "tau_m": g.tau_m, "C": g.C, "tau_e": g.tau_e,
                                   "tau_inh": g.tau_inh, "V_th": g.V_th,
                                   "V_reset": g.V_reset},
                        name="granule*")
    group.v = g.E_L
    return group


def purkinje_group(params: CerebellumParams, d: Derived, n: int) -> NeuronGroup:
    r"""Purkinje cells: tonic LIF, current-based PF (+) and MLI (-) input, CF event.

    .. math:: \tau_m \dot v = E_L - v + R (I_{tonic} + I_{syn}), \quad
              \tau_{syn} \dot I_{syn} = -I_{syn}

    A climbing-fibre spike sets ``cf_flag``; the custom event ``complex_spike`` fires on
    it (and clears it) and drives the LTD pathway of the PF synapses. The membrane is held
    at or above ``V_floor`` (as a hyperpolarising reversal potential would), which bounds
    the pause after strong net inhibition.
    """
    pk = params.purkinje
    group = NeuronGroup(
        n,
        """
        dv/dt = (E_L - v) / tau_m + (I_tonic + I_syn) / C : volt (unless refractory)
        dI_syn/dt = -I_syn / tau_syn : amp
        pf_drive : 1
        mli_drive : 1
        cf_flag : 1
        """,
        threshold="v > V_th", reset="v = V_reset", refractory=pk.refractory, method="exact",
        events={"complex_spike": "cf_flag > 0.5", "floor": "v < V_floor"},
        namespace={"E_L": pk.E_L, "tau_m": pk.tau_m, "I_tonic": d.pc_tonic, "C": pk.C,
                   "tau_syn": pk.tau_syn, "V_th": pk.V_th, "V_reset": pk.V_reset,
                   "V_floor": pk.V_floor},
        name="purkinje*")
    group.run_on_event("complex_spike", "cf_flag = 0")
    group.run_on_event("floor", "v = V_floor")
    group.v = pk.E_L
    return group


def pf_purkinje_synapses(source: brian2.Group, purkinje: NeuronGroup,
                         params: CerebellumParams, d: Derived) -> tuple[Synapses, dict]:
    r"""Plastic PF->PC synapses (not yet connected) and their namespace.

    Event-driven chain of ``S`` traces (:math:`\tau = t_{peak}/(S-1)`) started by each PF
    spike; on a PF spike the weight grows by ``ltp``, on the Purkinje cell's
    ``complex_spike`` event it falls by :math:`\mathrm{ltd}\, x_S / \max x_S`, i.e. by
    ``ltd`` times the window :func:`~circuits.cerebellum.params.window_kernel` of the
    PF-CF interval, summed over earlier PF spikes (``pairing="all"``). With
    ``pairing="nearest"`` the synapse keeps only its last PF arrival time and applies the
    same window to it (two numbers per synapse instead of ``S + 2``). Weights are clipped
    to ``[0, w0 + headroom * ltp]`` (``plasticity.w_max``); both changes are multiplied by
    ``plastic_gate(t)``, a TimedArray in the returned namespace. With a tonic background
    (``mossy.background``) the gate also decides which PF spikes leave a trace: the
    spontaneous spikes between stimuli neither potentiate nor pair with a CF.

    With ``plasticity.opposing`` the PF's potentiation goes to a second trace :math:`u`
    (clipped to :math:`\pm` the largest weight) that adds to the drive, and the CF
    depresses :math:`w` by :math:`(\mathrm{ltd} - \mathrm{ltp})K` and :math:`u` by
    :math:`\mathrm{ltp}\,K`: :math:`w + u` changes exactly as :math:`w` does without it
    (where no clip binds), but :math:`w` keeps only the CF-paired change and :math:`u` the
    potentiation of PF input without a CF (negative where the CF's window also reached PF
    spikes of an earlier, unplastic presentation), which decays with ``opposing_tau`` (event-driven:
    :math:`u \leftarrow u\,e^{-\Delta t/\tau_u}` at each update). The MLI relays are
    linear, so :math:`u` on the PF->PC synapse stands for a depression of the same PF's
    input to the interneurons that inhibit that Purkinje cell (Jorntell & Ekerot 2002).

    With ``plasticity.backward`` :math:`b > 0` a PF spike arriving :math:`\Delta t` after a
    complex spike also potentiates :math:`w` by :math:`b\,\mathrm{ltd}\,
    e^{-\Delta t/\tau_b}` (a trace :math:`y` the complex spike raises by 1): the fly's
    backward pairing, dopamine before the odour (Handler et al. 2019).
    """
    pl = params.plasticity
    order = pl.window_stages
    w_min, w_max = 0.0, pl.w_max
    namespace = {"tau_w": pl.tau, "I_unit": d.pf_unit_current, "ltp": pl.ltp, "ltd": pl.ltd,
                 "knorm": d.window_norm, "w_min": w_min, "w_max": w_max,
                 "plastic_gate": brian2.TimedArray(np.zeros(1), dt=1 * ms)}
    if pl.pairing == "all":
        model = "\n".join(
            ["w : 1", "dx1/dt = -x1 / tau_w : 1 (event-driven)"]
            + [f"dx{k}/dt = (x{k - 1} - x{k}) / tau_w : 1 (event-driven)"
               for k in range(2, order + 1)])
        remember, window = "x1 += 1", f"x{order} / knorm"
        if params.mossy.background:  # only gated (stimulus) spikes leave a trace
            remember = "x1 += plastic_gate(t)"
    else:
        # the last trace after one PF spike at t_pf, written out: same window, one spike
        model = "w : 1\nt_pf : second"
        remember = ("t_pf = t_pf + (t - t_pf) * plastic_gate(t)" if params.mossy.background
                    else "t_pf = t")
        window = (f"((t - t_pf) / tau_w)**{order - 1} * exp(-(t - t_pf) / tau_w)"
                  f" / {math.factorial(order - 1)} / knorm")
    on_pre = f"""
        I_syn_post += w * I_unit
        pf_drive_post += w
        {remember}
        w = clip(w + plastic_gate(t) * ltp, w_min, w_max)
        """
    on_post = f"w = clip(w - plastic_gate(t) * ltd * {window}, w_min, w_max)"
    if pl.opposing:  # LTP to the opposing trace u; the CF takes back this trial's LTP from u
        decays = pl.opposing_tau is not None
        model += "\ndu/dt = -u / tau_u : 1 (event-driven)" if decays else "\nu : 1"
        if decays:
            namespace["tau_u"] = pl.opposing_tau
        on_pre = f"""
        I_syn_post += (w + u) * I_unit
        pf_drive_post += w + u
        {remember}
        u = clip(u + plastic_gate(t) * ltp, -w_max, w_max)
        """
        on_post = "\n".join([
            f"w = clip(w - plastic_gate(t) * (ltd - ltp) * {window}, w_min, w_max)",
            f"u = clip(u - plastic_gate(t) * ltp * {window}, -w_max, w_max)"])
    if pl.backward > 0:  # a PF spike after a CF spike potentiates (backward pairing)
        model += "\ndy_cf/dt = -y_cf / tau_b : 1 (event-driven)"
        namespace.update(tau_b=pl.backward_tau, ltp_back=pl.backward * pl.ltd)
        on_pre += "\nw = clip(w + plastic_gate(t) * ltp_back * y_cf, w_min, w_max)\n"
        on_post += "\ny_cf += 1"
    synapses = Synapses(
        source, purkinje, model=model,
        on_pre=on_pre,
        on_post=on_post,
        on_event={"pre": "spike", "post": "complex_spike"},
        delay={"pre": d.pf_delay},
        namespace=namespace,
        name="pf_purkinje*")
    return synapses, namespace


def mossy_nuclear_synapses(mossy: brian2.Group, nuclei: NeuronGroup,
                           params: CerebellumParams) -> Synapses:
    r"""Plastic MF -> nuclear synapses, every rail onto every nuclear cell (a second site).

    A weight :math:`m` is the synapse's deviation from a baseline MF -> DCN weight whose
    mean drive is part of the nuclear cell's tonic drive (``dcn_drive``): each mossy spike
    depolarises the nuclear cell by :math:`m` (0 before learning, so the circuit starts as
    without these synapses; the baseline's spike-by-spike fluctuation is not modelled) and
    adds 1 to a trace :math:`x` that decays with ``mf_trace``. Each nuclear spike, which
    happens in a pause of its Purkinje cell, changes every synapse by the covariance of the
    fibre's recent activity with the spike (Sejnowski 1977):

    .. math:: m \leftarrow \mathrm{clip}\left(m + \eta\,(x - \bar x),\ -m_{max},\
              m_{max}\right), \qquad \bar x = \bar f_{MF}\,\tau_x,

    :math:`\bar x` the trace of a fibre firing at the mean mossy-fibre rate. Fibres more
    active than the mean potentiate, the others depress (MF-DCN LTP after Purkinje
    inhibition and rebound: Pugh & Raman 2006; LTD of the same synapses: Zhang & Linden
    2006). With two rails per bit the summed rate of all rails is the same during a cue and
    in the background (one rail of each pair on), so a nuclear spike during a cue moves
    weight from the cue's inactive rails to its active ones: the learned drive is the
    cue's alone, and at the background it sums to 0 on average. No climbing-fibre gate: the
    nuclei learn from the Purkinje output on every presentation (Medina & Mauk 2000); what
    they learned is not undone while the cortex extinguishes and the nucleus is silent
    (Medina, Garcia & Mauk 2001).
    """
    nu = params.nuclei
    syn = Synapses(mossy, nuclei,
                   model="m : volt\ndx/dt = -x / tau_x : 1 (event-driven)",
                   on_pre="v_post += m\nx += 1",
                   on_post="m = clip(m + eta * (x - x_mean), -m_max, m_max)",
                   on_event={"pre": "spike",
                             "post": "spike" if nu.learning_pause is None else "pause"},
                   namespace={"tau_x": nu.mf_trace, "eta": nu.mf_learning, "m_max": nu.mf_max,
                              "x_mean": float(params.mossy.mean_rate * nu.mf_trace)},
                   name="mossy_nuclei*")
    syn.connect()
    return syn


def nuclear_cells(purkinje: NeuronGroup, params: CerebellumParams,
                  d: Derived) -> tuple[NeuronGroup, Synapses]:
    r"""The nuclear cells, one per Purkinje cell, and the Purkinje -> nuclear synapses.

    A nuclear cell integrates its tonic drive, :math:`\tau_m \dot v = E_L + D - v`, and
    each spike of its Purkinje cell resets it to ``V_hyper``, so it fires only when the
    Purkinje cell is silent for longer than the baseline interval plus ``margin``.

    With ``nuclei.learning_pause`` :math:`\theta` the cell also has a ``pause`` event: once
    per silence of its Purkinje cell, when the silence has lasted :math:`\theta` (``t_pc``,
    the arrival of the last Purkinje spike; ``paused`` keeps the event to one per silence).
    The mossy-fibre synapses of a second learning site learn at this event instead of at
    the nuclear spikes (:func:`mossy_nuclear_synapses`).
    """
    nu = params.nuclei
    model = "dv/dt = (E_L + drive - v) / tau_m : volt (unless refractory)"
    namespace = {"E_L": nu.E_L, "drive": d.dcn_drive, "tau_m": nu.tau_m, "V_th": nu.V_th,
                 "V_reset": nu.V_reset}
    events, on_pc = {}, "v_post = V_hyper"
    if nu.learning_pause is not None:
        model += "\nt_pc : second\npaused : 1"
        events = {"pause": "t - t_pc > learning_pause and paused < 0.5"}
        namespace["learning_pause"] = nu.learning_pause
        on_pc += "\nt_pc_post = t\npaused_post = 0"
    nuclei = NeuronGroup(purkinje.N, model, threshold="v > V_th", reset="v = V_reset",
                         refractory=nu.refractory, method="exact", events=events,
                         namespace=namespace, name="nuclei*")
    if nu.learning_pause is not None:
        nuclei.run_on_event("pause", "paused = 1")
    nuclei.v = nu.V_hyper
    pc_dcn = Synapses(purkinje, nuclei, on_pre=on_pc, delay=0.5 * ms,
                      namespace={"V_hyper": nu.V_hyper}, name="purkinje_nuclei*")
    return nuclei, pc_dcn


def initialise_pf_synapses(synapses: Synapses, params: CerebellumParams) -> None:
    """Baseline weights (and, for nearest pairing, a PF spike time long past)."""
    synapses.w = params.plasticity.baseline_weight
    if params.plasticity.pairing == "nearest":
        synapses.t_pf = -1e3 * second


#: Parameters a spike-table network (``build_network(spike_tables=...)``) reads at run time
#: from one-value TimedArrays, so that a compiled standalone project runs with new values
#: through ``run_args`` (:meth:`circuits.cerebellum.standalone.StandaloneRunner.run`): the
#: Golgi loop that sets the granule coding level. Their being zero or not is structural
#: (a zero drive builds no synapses).
RUN_PARAMETERS = ("golgi.inhibition", "golgi.mf_drive", "golgi.feedback_drive")


def golgi_weights(params: CerebellumParams) -> dict[str, brian2.Quantity]:
    r"""The Golgi loop's synaptic weights.

    .. math:: w_{ff} = \frac{\text{mf\_drive}\,(V_{th} - E_L)}{n_{active}}, \quad
              w_{fb} = \text{feedback\_drive}\,(V_{th} - E_L), \quad
              I_{GoC} = \text{inhibition}

    with :math:`n_{active}` the rails active in one volley (``n`` of ``2n`` with two rails,
    ``n * activity`` with one): ``w_ff`` per mossy spike and ``w_fb`` per granule spike onto
    a Golgi cell's potential, ``I_goc`` per Golgi spike onto a granule cell's inhibitory
    current (``golgi.mode == "rate"``: ``g_goc = conductance`` onto its GABA_A conductance,
    in place of ``I_goc``).
    """
    go, n = params.golgi, params.address_bits
    threshold = go.V_th - go.E_L
    active_rails = n if params.mossy.rails == "two" else n * params.mossy.activity
    weights = {"w_ff": go.mf_drive * threshold / active_rails,
               "w_fb": go.feedback_drive * threshold, "I_goc": go.inhibition}
    if go.mode == "rate":  # conductance-based inhibition (see _granule)
        del weights["I_goc"]
        weights["g_goc"] = go.conductance
    return weights


def build_network(params: CerebellumParams, wiring: GranuleWiring | None = None, *,
                  seed: int | None = 0, record: tuple[str, ...] | None = None,
                  layers: str = "all",
                  spike_tables: tuple[int, int] | None = None) -> CerebellarNetwork:
    """Create the circuit's groups, synapses and monitors (nothing is run).

    Parameters
    ----------
    params
        Validated parameters (``params.validate()`` is called here).
    wiring
        Granule wiring; random (seeded) if omitted.
    seed
        Seed of the random wiring and connectivity (child seeds by name).
    record
        Populations whose spikes are monitored (default: all). ``granule``, ``purkinje``
        and ``nuclei`` are needed by the readout.
    layers
        ``"all"``, or ``"granular"`` for mossy fibres, granule and Golgi cells only.
    spike_tables
        None (default): ``mossy`` and ``climbing`` are SpikeGeneratorGroups (``set_spikes``).
        ``(k_mossy, k_climbing)``: they replay spike tables of at most that many spikes per
        fibre (:func:`spike_table_group`; the TimedArrays are ``namespace["mossy_table"]``
        and ``namespace["climbing_table"]``), so that a built standalone project can run new
        inputs through ``run_args`` (:mod:`circuits.cerebellum.standalone`); the Golgi
        weights (:data:`RUN_PARAMETERS`, :func:`golgi_weights`) are then one-value
        TimedArrays ``namespace["w_ff_value"]``, ``["w_fb_value"]``, ``["I_goc_value"]``.

    Returns
    -------
    CerebellarNetwork
    """
    params.validate()
    d = derive(params)
    if wiring is None:
        wiring = random_wiring(params, seed)
    n = params.address_bits
    two = params.mossy.rails == "two"
    n_rails = 2 * n if two else n
    r = wiring.n_granule
    v = params.value_bits
    g, go, pk, ml, nu, pl = (params.granule, params.golgi, params.purkinje,
                             params.interneuron, params.nuclei, params.plasticity)

    tables: dict[str, brian2.TimedArray] = {}
    if spike_tables is None:
        mossy = SpikeGeneratorGroup(n_rails, np.array([], dtype=int), np.array([]) * ms,
                                    name="mossy*")
    else:
        mossy, tables["mossy_table"] = spike_table_group(n_rails, spike_tables[0], "mossy",
                                                       params.protocol.dt)
    fused = uses_fused_granule(params)
    granule = _granule(params, fused)

    rails = wiring.rails(n, two)  # (r, inputs)
    if g.release_probability < 1:
        # unreliable release, drawn by Brian2 per synapse and spike: seed its generator
        brian2.seed(child_seed(seed, "mf_release") % 2 ** 32 if seed is not None else None)
        on_pre = "released = int(rand() < release_probability)\nI_e_post += J * released"
        if g.slow_share > 0:
            on_pre += "\nI_s_post += J_s * released"
    else:
        on_pre = "I_e_post += J" + ("\nI_s_post += J_s" if g.slow_share > 0 else "")
    mf_grc = Synapses(mossy, granule, on_pre=on_pre, delay=g.mf_delay,
                      namespace={"J": d.granule_weight, "J_s": d.granule_slow_weight,
                                 "release_probability": g.release_probability},
                      name="mf_granule*")
    if g.release_probability == 1:
        # grouped by mossy fibre: a spike's synapses (and their granule cells) lie next to
        # each other in memory, not one in every `inputs`. Every synapse adds the same J, so
        # the sums, and so every spike, are those of any other order; with unreliable
        # release the order of the random draws would change, so it stays by granule cell.
        # Built without a second copy: the stable order's index // inputs is the cell.
        mf_post = np.argsort(rails.ravel(), kind="stable")
        np.floor_divide(mf_post, rails.shape[1], out=mf_post)
        mf_pre = np.repeat(np.arange(n_rails), np.bincount(rails.ravel(), minlength=n_rails))
    else:
        mf_pre, mf_post = rails.ravel(), np.repeat(np.arange(r), rails.shape[1])
    mf_grc.connect(i=mf_pre, j=mf_post)
    del mf_pre, mf_post

    groups: dict[str, brian2.Group] = {"mossy": mossy, "granule": granule}
    synapses: dict[str, brian2.Synapses] = {"mossy_granule": mf_grc}

    if go.enabled:
        rng = numpy_rng(seed, "golgi_connectivity")
        pacing = float(go.spontaneous_rate) > 0  # pacemaker drive (spontaneous firing)
        if not go.leaky:
            golgi_eq = "dv/dt = pacemaker : volt (unless refractory)"
        elif pacing:
            golgi_eq = "dv/dt = (E_L + pacemaker - v) / tau_m : volt (unless refractory)"
        else:
            golgi_eq = "dv/dt = (E_L - v) / tau_m : volt (unless refractory)"
        golgi = NeuronGroup(d.n_golgi, golgi_eq,
                            threshold="v > V_th", reset="v = V_reset",
                            refractory=go.refractory,
                            method="exact" if go.leaky else "euler",  # euler: exact, slope
                            namespace={"E_L": go.E_L, "tau_m": go.tau_m, "V_th": go.V_th,
                                       "V_reset": go.V_reset, "pacemaker": go.pacemaker},
                            name="golgi*")
        golgi.v = go.E_L
        if pacing:  # desynchronised pacemakers: random phases of the spontaneous cycle
            phases = numpy_rng(seed, "golgi_phases").random(d.n_golgi)
            golgi.v = go.E_L + (go.V_th - go.E_L) * phases
        groups["golgi"] = golgi
        weights = golgi_weights(params)

        def weight(key: str) -> tuple[str, dict]:
            """The expression and namespace of one Golgi weight.

            A constant, or (spike-table mode) a one-value TimedArray that ``run_args`` can change.
            """
            if spike_tables is None:
                return key, {key: weights[key]}
            value = weights[key]
            table = brian2.TimedArray(np.array([float(value)]) * brian2.get_unit(value.dim),
                                      dt=1 * second, name=f"{key}_value")
            tables[f"{key}_value"] = table
            return f"{key}_value(t)", {f"{key}_value": table}

        if go.feedforward and go.mf_drive > 0:
            expr, space = weight("w_ff")
            mf_goc = Synapses(mossy, golgi, on_pre=f"v_post += {expr}", delay=go.mf_delay,
                              namespace=space, name="mf_golgi*")
            mf_goc.connect()
            synapses["mossy_golgi"] = mf_goc
        per_granule = min(go.inputs_per_granule, d.n_golgi)
        chosen = choose_golgi(rng, r, d.n_golgi, per_granule)
        if go.feedback and go.feedback_drive > 0:
            expr, space = weight("w_fb")
            grc_goc = Synapses(granule, golgi, on_pre=f"v_post += {expr}", delay=go.grc_delay,
                               namespace=space, name="granule_golgi*")
            grc_goc.connect(i=np.repeat(np.arange(r), per_granule), j=chosen.ravel())
            synapses["granule_golgi"] = grc_goc
        key, target = ("g_goc", "g_i") if go.mode == "rate" else ("I_goc", "I_i")
        expr, space = weight(key)
        goc_grc = Synapses(golgi, granule, on_pre=f"{target}_post += {expr}",
                           delay=go.inhibition_delay, namespace=space,
                           name="golgi_granule*")
        goc_grc.connect(i=chosen.ravel(), j=np.repeat(np.arange(r), per_granule))
        synapses["golgi_granule"] = goc_grc

    extra_objects: dict[str, NeuronGroup] = {}
    if fused:
        inputs = [(mf_grc, g.mf_delay)]
        if "golgi_granule" in synapses:
            inputs.append((synapses["golgi_granule"], go.inhibition_delay))
        extra_objects["granule"] = fused_granule(params, granule, tuple(inputs))

    if layers not in ("all", "granular"):
        raise ValueError(f"layers must be 'all' or 'granular', got {layers!r}")
    if layers == "granular":
        return _assemble(params, d, wiring, groups, synapses, record, None,
                         np.array([], int), np.array([], int), tables, extra_objects)

    purkinje = purkinje_group(params, d, v)
    groups["purkinje"] = purkinje

    rng_pf = numpy_rng(seed, "pf_connectivity")
    if pk.pf_connectivity >= 1:
        pf_pre = np.tile(np.arange(r), v)
        pf_post = np.repeat(np.arange(v), r)
    else:
        keep = rng_pf.random((v, r)) < pk.pf_connectivity
        pf_post, pf_pre = np.nonzero(keep)
    pf_pc, plastic_namespace = pf_purkinje_synapses(granule, purkinje, params, d)
    pf_pc.connect(i=pf_pre, j=pf_post)
    initialise_pf_synapses(pf_pc, params)
    synapses["pf_purkinje"] = pf_pc

    # Molecular-layer interneurons: linear relays of PF spikes (one spike per PF input).
    # Each MLI spike transmits floor(v + 1/2) units: the PF inputs it integrated since its last
    # spike. MLI->PC transmission happens within the step (no delay), before the reset, so
    # an MLI that received several PF spikes in one step relays all of them at once.
    # (no leak: the relay acts within one step, so an ODE would only cost time)
    relay = dict(model="v : 1", threshold="v > 0.5", reset="v -= floor(v + 0.5)")
    mli_on_pre = ("I_syn_post -= w0 * I_unit * floor(v_pre + 0.5)\n"
                  "mli_drive_post += w0 * floor(v_pre + 0.5)")
    if pk.pf_connectivity >= 1:
        n_mli = d.n_interneurons
        interneuron = NeuronGroup(n_mli, name="interneuron*", **relay)
        pf_mli = Synapses(granule, interneuron, on_pre="v_post += 1", delay=ml.pf_delay,
                          name="pf_interneuron*")
        pf_mli.connect(i=np.arange(r), j=np.arange(r) % n_mli)
        mli_pc = Synapses(interneuron, purkinje,
                          on_pre=mli_on_pre,
                          namespace={"w0": pl.baseline_weight, "I_unit": d.pf_unit_current},
                          name="interneuron_purkinje*")
        mli_pc.connect()
    else:
        # one pool per Purkinje cell, relaying exactly that cell's PF inputs
        per = ml.granule_per_interneuron
        counts = np.bincount(pf_post, minlength=v)
        pools = np.ceil(counts / per).astype(int)
        offsets = np.concatenate([[0], np.cumsum(pools)])
        rank = np.concatenate([np.arange(c) for c in counts])
        order_idx = np.argsort(pf_post, kind="stable")
        mli_of_syn = np.empty(len(pf_post), dtype=int)
        mli_of_syn[order_idx] = offsets[pf_post[order_idx]] + rank // per
        n_mli = int(offsets[-1])
        interneuron = NeuronGroup(n_mli, name="interneuron*", **relay)
        pf_mli = Synapses(granule, interneuron, on_pre="v_post += 1", delay=ml.pf_delay,
                          name="pf_interneuron*")
        pf_mli.connect(i=pf_pre, j=mli_of_syn)
        mli_pc = Synapses(interneuron, purkinje,
                          on_pre=mli_on_pre,
                          namespace={"w0": pl.baseline_weight, "I_unit": d.pf_unit_current},
                          name="interneuron_purkinje*")
        mli_pc.connect(i=np.arange(n_mli), j=np.repeat(np.arange(v), pools))
    # Relay after the PF inputs of the same step have arrived (pre pathways default to order
    # -1): an input reaching an MLI as it fires is relayed with it, never lost at the reset.
    mli_pc.pre.order = 0
    if fused:  # test the relays' threshold only after PF spikes
        extra_objects["interneuron"] = gated_relays(params, interneuron, pf_mli, ml.pf_delay)
    groups["interneuron"] = interneuron
    synapses["pf_interneuron"] = pf_mli
    synapses["interneuron_purkinje"] = mli_pc

    if spike_tables is None:
        climbing = SpikeGeneratorGroup(v, np.array([], dtype=int), np.array([]) * ms,
                                       name="climbing*")
    else:
        climbing, tables["climbing_table"] = spike_table_group(v, spike_tables[1],
                                                               "climbing", params.protocol.dt)
        plastic_namespace.update(tables)
    cf_pc = Synapses(climbing, purkinje, on_pre="cf_flag_post = 1", name="climbing_purkinje*")
    cf_pc.connect(j="i")
    groups["climbing"] = climbing
    synapses["climbing_purkinje"] = cf_pc

    nuclei, pc_dcn = nuclear_cells(purkinje, params, d)
    pc_dcn.connect(j="i")
    groups["nuclei"] = nuclei
    synapses["purkinje_nuclei"] = pc_dcn
    if float(nu.mf_learning) > 0:
        synapses["mossy_nuclei"] = mossy_nuclear_synapses(groups["mossy"], nuclei, params)

    drive_monitor = StateMonitor(purkinje, ["pf_drive", "mli_drive"], record=True,
                                 dt=1 * ms, name="drive_monitor*")
    return _assemble(params, d, wiring, groups, synapses, record, drive_monitor, pf_pre,
                     pf_post, plastic_namespace, extra_objects)


def _assemble(params, d, wiring, groups, synapses, record, drive_monitor, pf_pre, pf_post,
              namespace, extra_objects) -> CerebellarNetwork:
    record = groups.keys() if record is None else record
    unknown = set(record) - set(groups)
    if unknown:
        raise ValueError(f"record: unknown population {sorted(unknown)[0]!r}; "
                         f"choose from {', '.join(groups)}")
    monitors = {name: SpikeMonitor(groups[name], name=f"spikes_{name}*")
                for name in record}
    extra = [*extra_objects.values(), *([drive_monitor] if drive_monitor is not None else [])]
    network = brian2.Network(*groups.values(), *synapses.values(), *monitors.values(),
                             *extra)
    return CerebellarNetwork(params=params, derived=d, wiring=wiring, network=network,
                             groups=groups, synapses=synapses, spike_monitors=monitors,
                             drive_monitor=drive_monitor, pf_pre=pf_pre, pf_post=pf_post,
                             namespace=namespace, kernel_drivers=extra_objects)

