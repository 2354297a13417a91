r"""The granule layer's time step as one compiled loop (``cpp_standalone``).

Brian2 steps a NeuronGroup with two loops over every cell: the state updater (with the
refractoriness test ``_timestep(t - lastspike, dt) >= ...``, a division per cell) and the
thresholder (a branch and a store per cell, which the compiler cannot vectorise). At
:math:`10^5` granule cells and 0.1 ms steps these two loops are most of the cerebellar
circuit's run time, although a granule cell fires a few times per presentation.

:func:`fused_granule` replaces them, in ``cpp_standalone`` only, with one function that a
one-cell driver group calls once per time step (a Brian2 :class:`~brian2.Function` with a
C++ implementation, called from a ``run_regularly`` operation in the ``thresholds`` slot).
It computes what Brian2's description computes (the same group built with
``CerebellumParams.granule_kernel = "brian2"``, kept as the reference):

1. every cell's state advances one step with the same update as Brian2's: the exact
   linear solution (current-based inhibition)

   .. math:: v' = E_L(1 - a) + a v + \sum_k b_k x_k, \quad x_k' = d_k x_k,
             \quad a = e^{-\Delta t/\tau_m}, \quad d_k = e^{-\Delta t/\tau_k},
             \quad b_k = \frac{\pm\tau_m \tau_k}{C(\tau_k - \tau_m)} (d_k - a)

   for the currents :math:`x_k` (:math:`I_e`, :math:`-I_i`, :math:`I_s`), or exponential
   Euler with the GABA_A conductance (``golgi.mode == "rate"``; its ``exp`` per cell is
   :data:`VECTOR_EXP`), in a loop the compiler vectorises; blocks of 64 cells with a
   membrane above threshold are noted on the way;
2. cells in their refractory period keep :math:`v = V_{reset}` (Brian2 does not integrate
   ``v`` while ``t - lastspike`` is shorter than the refractory period, counted in steps);
   they are the spikes of the last ``refractory/dt - 1`` steps, kept in a ring of lists;
3. the noted blocks are scanned for :math:`v > V_{th}` outside the refractory period: the
   spikes, written to the group's spike space in increasing index (as Brian2's thresholder
   writes them) and reset.

While the current-based layer is quiet it *parks* (:func:`kernel_source`): its steps are
skipped and advanced at once with the exact solution when input comes or the run ends.
:func:`gated_relays` does the same kind of work for the molecular-layer interneurons, whose
threshold is tested only after parallel-fibre spikes.

Synapses, monitors and every other object read the same spike space and the same state
variables as before, so the rest of the circuit is unchanged. What differs is rounding:
the compiler may group the additions of step 1 differently (``-ffast-math``), so ``v`` can
differ from Brian2's in the last bits, and a spike that Brian2 places exactly at threshold
could move by one step. ``tests/test_granule_kernel.py`` compares every granule spike
(index and step) and every read with the Brian2 description.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import brian2
import numpy as np
from brian2 import NeuronGroup

from circuits.cerebellum.params import GRANULE_KERNELS, CerebellumParams

__all__ = ["BLOCK", "GRANULE_KERNELS", "VECTOR_EXP", "InputSource", "delay_steps",
           "fused_granule", "gated_relays", "kernel_source", "linear_update",
           "refractory_steps", "relay_source", "state_variables", "uses_fused_granule"]

#: cells per block of the threshold scan (a block is scanned when one of its cells is above)
BLOCK = 64


#: ``exp`` in a form the compiler vectorises (Brian2 compiles with -fno-finite-math-only,
#: which keeps glibc's vector ``exp`` out of the loop): :math:`e^x = 2^k e^r` with
#: :math:`k = \mathrm{round}(x/\ln 2)`, :math:`|r| \le \ln 2/2`, and Taylor's series of
#: :math:`e^r` to :math:`r^{13}` (remainder below 2e-16 relative); for :math:`x \ge -700`
#: (smaller arguments are taken as -700, :math:`e^{-700} \approx 10^{-304}`). Measured
#: against glibc's ``exp`` on [-1.5, 0]: at most 2.2e-16 relative (one unit in the last
#: place), 0.86 against 3.0 ns per value.
VECTOR_EXP = """
static inline double vector_exp(double x)
{
    x = x < -700.0 ? -700.0 : x;
    const double k = floor(x * 1.4426950408889634 + 0.5);
    const double r = (x - k * 0.6931471803691238) - k * 1.9082149292705877e-10;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    const int64_t bits = ((int64_t)k + 1023) << 52;
    double scale;
    __builtin_memcpy(&scale, &bits, sizeof(scale));
    return p * scale;
}
"""


def uses_fused_granule(params: CerebellumParams) -> bool:
    """Whether ``params`` build the granule layer as the fused loop.

    ``"auto"`` and ``"fused"`` in ``cpp_standalone`` (``validate`` refuses ``"fused"`` with
    a runtime backend); never with ``"brian2"``.
    """
    return params.granule_kernel != "brian2" and params.backend == "cpp_standalone"


def refractory_steps(refractory: brian2.Quantity, dt: brian2.Quantity) -> int:
    """Steps of refractoriness as Brian2 counts them: ``_timestep(refractory, dt)``."""
    return int((float(refractory) + 1e-3 * float(dt)) / float(dt))


def _currents(params: CerebellumParams) -> list[tuple[str, float, float]]:
    """``(variable, sign, tau in s)`` of each current onto the membrane."""
    g = params.granule
    currents = [("I_e", 1.0, float(g.tau_e))]
    if params.golgi.mode != "rate":
        currents.append(("I_i", -1.0, float(g.tau_inh)))
    elif g.slow_share > 0:
        currents.append(("I_s", 1.0, float(g.tau_slow)))
    return currents


def linear_update(params: CerebellumParams) -> tuple[float, float, dict[str, float]]:
    r"""The exact one-step update of the current-based granule membrane (SI units).

    .. math:: v' = E_L(1 - a) + a v + \sum_k b_k x_k, \quad a = e^{-\Delta t/\tau_m},
              \quad b_k = \frac{s_k \tau_m \tau_k}{C (\tau_k - \tau_m)}
              \left(e^{-\Delta t/\tau_k} - a\right)

    with :math:`s_k = \pm 1` the sign of current :math:`x_k` (``I_e`` +, ``I_i`` -).
    (``validate`` keeps :math:`\tau_e < \tau_m`; a Golgi current with
    :math:`\tau_{inh} = \tau_m` takes the limit :math:`s\,\Delta t\, a / C`.)

    Returns
    -------
    (rest, a, gains)
        :math:`E_L(1 - a)`, :math:`a` and :math:`\{x_k: b_k\}`.
    """
    g = params.granule
    dt, tau_m, C, E_L = (float(params.protocol.dt), float(g.tau_m), float(g.C),
                         float(g.E_L))
    a = math.exp(-dt / tau_m)
    gains = {}
    for name, sign, tau in _currents(params):
        if math.isclose(tau, tau_m, rel_tol=1e-12):
            gains[name] = sign * dt * a / C
        else:
            gains[name] = sign * tau_m * tau / (C * (tau - tau_m)) * (math.exp(-dt / tau) - a)
    return E_L - E_L * a, a, gains


def state_variables(params: CerebellumParams) -> list[str]:
    """The granule state the loop advances: ``v``, the currents, ``g_i`` with conductances."""
    rate = params.golgi.mode == "rate"
    return ["v"] + [name for name, _, _ in _currents(params)] + (["g_i"] if rate else [])


def _c(value: float) -> str:
    """A double literal that C++ reads back as exactly ``value``."""
    if not math.isfinite(value):
        raise ValueError(f"granule kernel coefficient is not finite: {value}")
    return repr(float(value))


@dataclass(frozen=True)
class InputSource:
    """A group whose spikes reach the granule layer: name, size, synaptic delay in steps."""

    name: str
    n: int
    delay_steps: int


def delay_steps(delay: brian2.Quantity, dt: brian2.Quantity) -> int:
    """A synaptic delay in whole steps, as Brian2's spike queue rounds it."""
    return round(float(delay) / float(dt))


def kernel_source(params: CerebellumParams, group_name: str, n: int,
                  sources: tuple[InputSource, ...] = (),
                  clock_name: str = "defaultclock") -> tuple[str, str]:
    r"""The C++ function of one granule step for group ``group_name`` of ``n`` cells.

    ``sources`` are the groups whose spikes reach the layer (mossy fibres, Golgi cells).
    With current-based inhibition and every source at least one step of delay away, the
    loop *parks* the layer while it is quiescent: no source spike in flight, no cell
    refractory, and every cell provably below threshold without new input,

    .. math:: \max(v - E_L, 0) + \frac{\tau_e |I_e|}{C} < 0.999\,(V_{th} - E_L)

    (the charge a decaying EPSC still brings; inhibition only lowers ``v``). A parked layer
    skips its steps; when a source fires, or at the last step of a run, it advances the
    skipped :math:`K` steps at once with the same exact solution
    (:math:`a^K = e^{-K\Delta t/\tau_m}`, ...), equal to :math:`K` single steps up to
    rounding, then steps on as usual.

    Returns
    -------
    (name, code)
        The function's name and its definition (support code of the driver's code object).
    """
    g = params.granule
    dt = float(params.protocol.dt)
    tau_m, C, E_L = float(g.tau_m), float(g.C), float(g.E_L)
    fname = f"{group_name}_fused_step"
    currents = _currents(params)
    rate = params.golgi.mode == "rate"
    arrays = state_variables(params)
    pointers = "\n".join(f"    double* __restrict {a} = brian::_array_{group_name}_{a};"
                         for a in arrays)
    loads = "\n".join(f"            const double {a}_old = {a}[i];" for a in arrays)
    decays = [(name, math.exp(-dt / tau)) for name, _, tau in currents]
    if rate:
        decays.append(("g_i", math.exp(-dt / float(g.tau_inh))))
    stores = "\n".join(f"            {a}[i] = {_c(d)} * {a}_old;" for a, d in decays)
    parks = (not rate and bool(sources)
             and min(source.delay_steps for source in sources) >= 1)
    if rate:
        # Brian2's exponential Euler: v' = -A/B + (A/B + v) exp(B dt) with the old currents
        g_t, E_gaba = float(g.g_tonic), float(g.E_GABA)
        drive = " + ".join(f"{name}_old" for name, _, _ in currents)
        update = (
            f"            const double B = {_c(-1 / tau_m - g_t / C)} - g_i_old * {_c(1 / C)};\n"
            f"            const double A = {_c(E_L / tau_m + E_gaba * g_t / C)}"
            f" + g_i_old * {_c(E_gaba / C)} + ({drive}) * {_c(1 / C)};\n"
            f"            const double BA = A / B;\n"
            f"            const double v_new = -BA + (BA + v_old) * {fname}_exp({_c(dt)} * B);")
    else:
        rest, a, gains = linear_update(params)
        terms = f"({_c(a)} * v_old)"
        for name, b in gains.items():
            terms = f"({terms} + ({_c(b)} * {name}_old))"
        update = f"            const double v_new = {_c(rest)} + {terms};"
    steps = refractory_steps(g.refractory, params.protocol.dt)
    V_th, V_reset = _c(float(g.V_th)), _c(float(g.V_reset))
    if parks:
        excitatory = [(name, tau) for name, sign, tau in currents if sign > 0]
        charge = " + ".join(f"{_c(tau / C)} * fabs({name}[i])" for name, tau in excitatory)
        bound = (f"            const double reach = (v_new > {_c(E_L)} ? v_new - {_c(E_L)} : 0.0)"
                 f" + {charge};\n"
                 f"            reach_max = reach > reach_max ? reach : reach_max;")
        # K steps at once: a^K, d_k^K and b_k(K) of the exact solution
        gain_k = []
        for _name, sign, tau in currents:
            if math.isclose(tau, tau_m, rel_tol=1e-12):
                gain_k.append(f"{_c(sign * dt / C)} * K * aK")
            else:
                factor = sign * tau_m * tau / (C * (tau - tau_m))
                gain_k.append(f"{_c(factor)} * (exp(-K * {_c(dt / tau)}) - aK)")
        catch_up_terms = " + ".join(f"b{k} * {name}[i]"
                                    for k, (name, _, _) in enumerate(currents))
        catch_up = "\n".join([
            "        if (K > 0) {  // the parked steps, at once (exact solution over K steps)",
            f"            const double aK = exp(-K * {_c(dt / tau_m)});",
            *(f"            const double b{k} = {expr};" for k, expr in enumerate(gain_k)),
            *(f"            const double d{k} = exp(-K * {_c(dt / tau)});"
              for k, (_, _, tau) in enumerate(currents)),
            "            for (int i = 0; i < N; i++) {",
            f"                v[i] = {_c(E_L)} * (1.0 - aK) + aK * v[i] + {catch_up_terms};",
            *(f"                {name}[i] *= d{k};" for k, (name, _, _) in enumerate(currents)),
            "            }",
            "        }"])
        watch = "\n".join(
            f"    if (brian::_array_{source.name}__spikespace[{source.n}] > 0) "
            f"{fname}_last_input = step;" for source in sources)
        latest = max(source.delay_steps for source in sources)
        park_head = f"""
    // 0. parked layer: skip the step while quiet; catch up when input comes or the run ends
{watch}
    brian::{clock_name}.timestep[0] += 1;  // is the next step still in this run?
    const bool last_step = !brian::{clock_name}.running();
    brian::{clock_name}.timestep[0] -= 1;
    if ({fname}_parked >= 0) {{
        if (step - {fname}_last_input > {latest} && !last_step) {{
            spikespace[N] = 0;
            return 0.0;  // parked: not stepped
        }}
        const double K = (double)(step - 1 - {fname}_parked);
{catch_up}
        {fname}_parked = -1;
    }}
    double reach_max = 0.0;"""
        park_tail = f"""
    // 4. park when quiet: no input in flight, nobody refractory, nobody able to reach V_th
    bool anyone_refractory = false;
    for (int r = 0; r < R; r++)
        anyone_refractory = anyone_refractory || !{fname}_ring[r].empty();
    if (step - {fname}_last_input >= {latest} && !anyone_refractory
            && reach_max < {_c(0.999 * (float(g.V_th) - E_L))})
        {fname}_parked = step;"""
    else:
        bound = park_head = park_tail = ""
    # (support code lands inside an anonymous namespace: no #include here; the code object
    # has <vector> and <math.h> already)
    code = f"""
{VECTOR_EXP.replace("vector_exp", f"{fname}_exp") if rate else ""}
static std::vector<std::vector<int32_t> > {fname}_ring;  // spikes of the last steps
static std::vector<char> {fname}_refractory;
static std::vector<int32_t> {fname}_blocks;
static int64_t {fname}_parked = -1;  // step the parked state belongs to; -1: stepping
static int64_t {fname}_last_input = -1000000000;  // last step a source was seen firing

double {fname}(const int64_t step{", const double" * len(arrays)})
{{  // the state arguments (cell 0) only tell Brian2 that this loop writes those arrays
    const int N = {n};
    const int R = {steps};  // refractory steps: v is held for R - 1 steps after a spike
{pointers}
    int32_t* __restrict spikespace = brian::_array_{group_name}__spikespace;
    if ({fname}_refractory.empty()) {{
        {fname}_refractory.assign(N, 0);
        {fname}_ring.assign(R > 0 ? R : 1, std::vector<int32_t>());
    }}{park_head}
    char* __restrict refractory = &{fname}_refractory[0];
    std::vector<int32_t>& blocks = {fname}_blocks;
    blocks.clear();
    // 1. integrate every cell; note the blocks with a membrane above threshold
    for (int start = 0; start < N; start += {BLOCK}) {{
        const int end = start + {BLOCK} < N ? start + {BLOCK} : N;
        int above = 0;
        for (int i = start; i < end; i++) {{
{loads}
{update}
{stores}
            v[i] = v_new;
            above |= v_new > {V_th};
{bound}
        }}
        if (above)
            blocks.push_back(start);
    }}
    // 2. refractory cells keep the reset potential
    std::vector<int32_t>* now = 0;
    if (R > 0) {{
        now = &{fname}_ring[step % R];
        for (size_t k = 0; k < now->size(); k++)
            refractory[(*now)[k]] = 0;  // fired R steps ago: integrates again from this step
        now->clear();
        for (int r = 0; r < R; r++) {{
            const std::vector<int32_t>& held = {fname}_ring[r];
            for (size_t k = 0; k < held.size(); k++)
                v[held[k]] = {V_reset};
        }}
    }}
    // 3. threshold (in increasing index, as Brian2's thresholder) and reset
    int32_t count = 0;
    for (size_t b = 0; b < blocks.size(); b++) {{
        const int start = blocks[b];
        const int end = start + {BLOCK} < N ? start + {BLOCK} : N;
        for (int i = start; i < end; i++) {{
            if (v[i] > {V_th} && !refractory[i]) {{
                spikespace[count++] = i;
                v[i] = {V_reset};
                if (R > 0) {{
                    refractory[i] = 1;
                    now->push_back(i);
                }}
            }}
        }}
    }}
    spikespace[N] = count;{park_tail}
    return 1.0;
}}
"""
    return fname, code


def _input_sources(group: NeuronGroup, inputs, dt) -> tuple[InputSource, ...]:
    for syn, _ in inputs:
        if syn.target is not group:
            raise ValueError(f"synapses {syn.name!r} do not target {group.name!r}")
    return tuple(InputSource(syn.source.name, len(syn.source), delay_steps(delay, dt))
                 for syn, delay in inputs)


def _driver(group: NeuronGroup, fname: str, code: str, state: list[str]) -> NeuronGroup:
    """A one-cell group calling C++ function ``fname`` in place of ``group``'s thresholder.

    The thresholder is deactivated; the call comes once per step in its slot, just before
    the spike monitors. The call's arguments are cell 0's ``state`` variables, linked:
    Brian2 then counts those arrays as used by this code object (written ones are read back
    after a run, not taken from its cache). The driver's ``stepped`` sums the function's
    return values.
    """

    def python_step(*args):  # pragma: no cover - C++ only
        raise NotImplementedError(f"{fname} runs in cpp_standalone only")

    units = [group.variables[name].dim for name in state]
    function = brian2.Function(python_step, arg_units=[1, *units], return_unit=1,
                               arg_types=["integer"] + ["float"] * len(state))
    function.implementations.add_implementation("cpp", code, name=fname)
    thresholder = group.thresholder["spike"]
    thresholder.active = False  # the function writes the spike space
    linked = [f"{name} : {brian2.get_unit(group.variables[name].dim)!r} (linked)"
              for name in state]
    driver = NeuronGroup(1, "\n".join(["stepped : 1", *linked]), name=f"{fname}_driver*",
                         clock=group.clock, namespace={fname: function})
    for name in state:
        setattr(driver, name, brian2.linked_var(group, name, index=np.zeros(1, dtype=int)))
    driver.run_regularly(f"stepped += {fname}(t_in_timesteps, {', '.join(state)})",
                         when=thresholder.when, order=thresholder.order,
                         name=f"{fname}*")
    return driver


def fused_granule(params: CerebellumParams, group: NeuronGroup,
                  inputs: tuple[tuple[brian2.Synapses, brian2.Quantity], ...] = ()
                  ) -> NeuronGroup:
    """Hand ``group``'s time step to the fused loop; return the driver group to add.

    ``group`` must hold the granule variables without differential equations (its
    thresholder is deactivated: the loop writes its spike space). ``inputs`` are every
    synapse onto the group with its (homogeneous) delay: the loop watches their sources to
    park the layer while it is quiet (:func:`kernel_source`); a synapse onto the group that
    is not listed would change a parked layer unseen. The driver's ``stepped`` counts the
    steps in which the loop integrated the cells (was not parked).
    """
    if not math.isclose(float(group.clock.dt), float(params.protocol.dt), rel_tol=1e-9):
        raise ValueError(f"the fused granule loop integrates steps of protocol.dt = "
                         f"{params.protocol.dt}, but {group.name!r} runs on a clock of "
                         f"{group.clock.dt}: build it inside brian_backend(..., "
                         f"dt=params.protocol.dt)")
    sources = _input_sources(group, inputs, params.protocol.dt)
    fname, code = kernel_source(params, group.name, len(group), sources, group.clock.name)
    return _driver(group, fname, code, state_variables(params))


def relay_source(group_name: str, n: int, threshold: float,
                 source: InputSource) -> tuple[str, str]:
    """C++ threshold test ``v > threshold`` of relay cells driven only by ``source``.

    The molecular-layer interneurons are linear relays (``v`` counts PF inputs; a spike
    subtracts the whole units, leaving ``v`` below threshold): they can only cross it after a
    PF spike arrives. The test runs, as one vectorised scan in blocks of :data:`BLOCK`,
    only in the steps in which a spike of ``source`` may have arrived (seen firing at most
    its delay plus one step ago); otherwise the spike space is left empty, which is what
    Brian2's thresholder would find.
    """
    fname = f"{group_name}_relay_threshold"
    th = _c(threshold)
    code = f"""
static int64_t {fname}_last_input = -1000000000;  // last step the source was seen firing
static std::vector<int32_t> {fname}_blocks;

double {fname}(const int64_t step, const double)
{{  // the argument (cell 0's v) only tells Brian2 that this code object uses v
    const int N = {n};
    const double* __restrict v = brian::_array_{group_name}_v;
    int32_t* __restrict spikespace = brian::_array_{group_name}__spikespace;
    if (brian::_array_{source.name}__spikespace[{source.n}] > 0)
        {fname}_last_input = step;
    int32_t count = 0;
    const bool scan = step - {fname}_last_input <= {source.delay_steps + 1};
    if (scan) {{
        std::vector<int32_t>& blocks = {fname}_blocks;
        blocks.clear();
        for (int start = 0; start < N; start += {BLOCK}) {{
            const int end = start + {BLOCK} < N ? start + {BLOCK} : N;
            int above = 0;
            for (int i = start; i < end; i++)
                above |= v[i] > {th};
            if (above)
                blocks.push_back(start);
        }}
        for (size_t b = 0; b < blocks.size(); b++) {{
            const int end = blocks[b] + {BLOCK} < N ? blocks[b] + {BLOCK} : N;
            for (int i = blocks[b]; i < end; i++)
                if (v[i] > {th})
                    spikespace[count++] = i;
        }}
    }}
    spikespace[N] = count;
    return scan ? 1.0 : 0.0;
}}
"""
    return fname, code


def gated_relays(params: CerebellumParams, group: NeuronGroup, pathway: brian2.Synapses,
                 delay: brian2.Quantity, threshold: float = 0.5) -> NeuronGroup:
    """Test the relays' threshold only when ``pathway`` (their only input) may have fired.

    Returns the driver group to add to the network (:func:`relay_source`); its ``stepped``
    counts the steps in which the relays were scanned.
    """
    (source,) = _input_sources(group, ((pathway, delay),), params.protocol.dt)
    fname, code = relay_source(group.name, len(group), threshold, source)
    return _driver(group, fname, code, ["v"])
