r"""``memcircuits figures calcium-protocol``: the proposed imaging experiments, predicted.

**Learning and extinction in the cerebellum** (:class:`~circuits.cerebellum.CerebellarSDM`,
by default the biological granule layer for 32-bit keys: four-claw granule cells,
asynchronous mossy fibres with a tonic background, Golgi loop; ``circuit.preset =
"kanerva"`` for Kanerva's limit): one mossy-fibre pattern :math:`K` (the conditioned input) is

1. probed once (read, no climbing fibres) -- the baseline;
2. written ``acquisition_trials`` times with climbing fibres for the Purkinje cells of
   group A (value bits 1 on the first half of the outputs), each write followed by a probe;
3. written ``extinction_trials`` times with the conflicting value (climbing fibres for
   group B, the other half; none for A), each followed by a probe.

The spikes are placed on an imaging time axis with one presentation every
``trial_interval`` seconds (the biological circuit's write and read slots are 260 and 170
ms; between presentations the circuit is at rest, which the calcium only needs to decay
through), then
turned into granule-soma and Purkinje-dendrite dF/F (:mod:`analysis.calcium` presets;
dendrites report complex spikes only). Predicted per presentation: the dF/F peak of the
granule cells the pattern activates (``granule_peak_active_*``), of each Purkinje group's
dendrites (``pc_peak_a_*``, ``pc_peak_b_*``; ``granule_peak_inactive_*``, up to 200
granule cells the pattern leaves silent, is the noise floor of the peak measure), next to
the PF->PC counters of the active granule subset (:math:`(w_0 - w)/\mathrm{ltp}`,
``counter_a_*``, ``counter_b_*``), the Purkinje simple spikes in the probes
(``simple_a_*``: the learned output, which dendritic calcium does not show) and the
read-out bits (``bits_a_*``).
Figure ``learning_extinction``.

**Place-cell remapping** (:func:`circuits.hippocampus.loop.run_walk`, the same loop as
``memcircuits hippocampus``): a ``steps``-step walk in world A and one in world B (same
structure, new observations), each step shown for ``dwell`` seconds (the loop runs one
20-ms theta cycle per step; the rest of the dwell is silent). Memory neurons are imaged as
place cells; node-wise dF/F maps in A and B are correlated per neuron
(``remap_dff_r_mean``; ``remap_spike_r_mean`` for the spike-count maps), next to the
correlation of each neuron's dF/F map with its own spike map in the same world
(``dff_vs_spikes_r_mean``: calcium keeps the field, it is the world that changes it).
Figure ``remapping``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from analysis.calcium import SynthesisParams, frame_count, synthesize
from analysis.spatial import node_rate_map, remapping
from circuits.cerebellum.params import CerebellumParams, biological
from circuits.hippocampus.params import HippocampusParams
from mapping.imaging import imaged_population
from models._checks import check_int, check_real
from models.rundir import RunDirectory
from models.seeding import child_seed

__all__ = ["Config", "cerebellar_protocol", "place_cell_remapping", "run", "summarize"]


def _small_cerebellum() -> CerebellumParams:
    """The biological granule layer for 32-bit keys (7360 granule cells), 8 outputs."""
    return biological(address_bits=32, value_bits=8)


@dataclass(frozen=True)
class Config:
    """Parameters of ``memcircuits figures calcium-protocol``."""

    parts: tuple[str, ...] = ("cerebellum", "hippocampus")  # which experiments to run
    circuit: CerebellumParams = field(default_factory=_small_cerebellum)
    acquisition_trials: int = 2  # writes of (K, value A), each followed by a probe
    extinction_trials: int = 3  # writes of (K, value B), each followed by a probe (more
    # than the acquisition writes, so the conflicting association wins the majority)
    trial_interval: float = 4.0  # s between presentations on the imaging time axis
    hippocampus: HippocampusParams = field(default_factory=HippocampusParams)
    world: str = "square:4x4"  # world spec of worlds A and B
    steps: int = 30  # walk steps in each world
    dwell: float = 1.0  # s per walk step on the imaging time axis
    synthesis: SynthesisParams = field(default_factory=SynthesisParams)  # indicator, nu
    seed: int = 0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        from models.worlds import parse_world

        if not self.parts:
            raise ValueError("parts must name at least one of cerebellum, hippocampus")
        for part in self.parts:
            if part not in ("cerebellum", "hippocampus"):
                raise ValueError(f"parts: unknown part {part!r}; known: cerebellum, "
                                 f"hippocampus")
        if len(set(self.parts)) != len(self.parts):
            raise ValueError(f"parts must not repeat, got {list(self.parts)}")
        check_int("acquisition_trials", self.acquisition_trials, minimum=1)
        check_int("extinction_trials", self.extinction_trials, minimum=1)
        check_real("trial_interval", self.trial_interval, minimum=0.5)
        check_int("steps", self.steps, minimum=2)
        check_real("dwell", self.dwell, minimum=0.05)
        try:
            parse_world(self.world, seed=0)
        except ValueError as exc:
            raise ValueError(f"world: {exc}") from exc
        self.synthesis.validate()
        self.circuit.validate()
        self.hippocampus.validate()
        if self.circuit.value_bits < 2:
            raise ValueError("circuit.value_bits must be >= 2 (two Purkinje groups)")
        check_int("seed", self.seed, minimum=0)
        self._check_memory()

    def _check_memory(self) -> None:
        """Refuse sizes over the memory budget (or simulations of absurd length) before any run.

        Checked: the cerebellar circuit over its trials, the hippocampal loop over a walk of
        ``steps``, and the imaging of both (frames at ``synthesis.fps``).
        """
        from models._memory import format_bytes, refuse_over_budget

        trials = self.acquisition_trials + self.extinction_trials
        if "cerebellum" in self.parts:
            from circuits.memory import check_cerebellum

            proto = self.circuit.protocol
            field = ("acquisition_trials" if self.acquisition_trials >= self.extinction_trials
                     else "extinction_trials")
            check_cerebellum(self.circuit, presentations=2 * trials + 1,
                             duration_s=float(trials * proto.write_slot
                                              + (trials + 1) * proto.read_slot),
                             prefix="circuit.", presentations_field=field,
                             presentations_value=getattr(self, field))
            frames = (2 * trials + 1) * self.trial_interval * self.synthesis.fps
            refuse_over_budget("trial_interval", self.trial_interval,
                               8.0 * 8 * frames * (self.circuit.granule.n
                                                   + self.circuit.value_bits),
                               f"{frames:.3g} imaging frames of the cerebellar protocol")
        if "hippocampus" in self.parts:
            from circuits.hippocampus.loop import loop_memory

            # each walk recruits one memory neuron per step (memory.n = steps + 1)
            params = replace(self.hippocampus,
                             memory=replace(self.hippocampus.memory, n=self.steps + 1))
            items = loop_memory(params, self.steps)
            detail = ", ".join(f"{k} {format_bytes(b)}" for k, (b, _) in
                               sorted(items.items(), key=lambda kv: -kv[1][0]))
            refuse_over_budget("steps", self.steps, sum(b for b, _ in items.values()),
                               f"a walk of {self.steps} steps, one memory neuron each: "
                               f"{detail}")
            frames = self.steps * self.dwell * self.synthesis.fps
            refuse_over_budget("dwell", self.dwell,
                               8.0 * 8 * frames * max(self.hippocampus.memory.n,
                                                      self.steps + 1),
                               f"{frames:.3g} imaging frames of each {self.steps}-step walk")


# ------------------------------------------------------------------ cerebellum
def _stretch(readouts, interval: float, lead: float) -> dict[str, tuple]:
    """Spikes of every readout (one presentation each) moved to ``lead + p * interval``."""
    out: dict[str, list] = {}
    for p, readout in enumerate(readouts):
        onset = float(readout.onsets[0])
        for name, trains in readout.spikes.items():
            sel = trains.times < onset + readout.slot
            out.setdefault(name, []).append(
                (trains.indices[sel], trains.times[sel] - onset + lead + p * interval))
    return {name: (np.concatenate([i for i, _ in parts]),
                   np.concatenate([t for _, t in parts])) for name, parts in out.items()}


def cerebellar_protocol(config: Config, *, progress: bool = False) -> dict[str, Any]:
    """Run the learning/extinction protocol and synthesise granule and Purkinje dF/F."""
    from circuits.cerebellum.protocol import CerebellarSDM, counters_from_weights

    params = config.circuit
    rng = np.random.default_rng(child_seed(config.seed, "protocol_key"))
    key = rng.integers(0, 2, (1, params.address_bits))
    v = params.value_bits
    group_a = np.zeros(v, dtype=np.int64)
    group_a[: v // 2] = 1
    value_a, value_b = group_a[None, :], 1 - group_a[None, :]
    circuit = CerebellarSDM(params, seed=child_seed(config.seed, "circuit"),
                            report="text" if progress else None)
    kinds, readouts = [], []

    def present(kind, readout):
        kinds.append(kind)
        readouts.append(readout)

    present("probe", circuit.read(key))
    for _ in range(config.acquisition_trials):
        present("acquisition", circuit.write(key, value_a))
        present("probe", circuit.read(key))
    for _ in range(config.extinction_trials):
        present("extinction", circuit.write(key, value_b))
        present("probe", circuit.read(key))

    lead = 1.0  # s of baseline before the first presentation
    spikes = _stretch(readouts, config.trial_interval, lead)
    sizes = circuit.population_sizes()
    names = params.population_names
    populations = {names[k]: (spikes[k][0], spikes[k][1], sizes[k]) for k in spikes}
    duration = lead + len(readouts) * config.trial_interval
    active = readouts[0].active_granule[0]  # granule cells the pattern activates
    n_granule = sizes["granule"]
    granule_events = imaged_population(names["granule"], populations, "granule_soma", "",
                                       np.arange(n_granule))
    pc_events = imaged_population(names["purkinje"], populations, "purkinje_dendrite",
                                  names["climbing"], np.arange(v))
    granule = synthesize(granule_events, n_granule, duration, config.synthesis,
                         seed=child_seed(config.seed, "calcium", "granule"))
    purkinje = synthesize(pc_events, v, duration, config.synthesis,
                          seed=child_seed(config.seed, "calcium", "purkinje"))
    fps = config.synthesis.fps
    onsets = lead + config.trial_interval * np.arange(len(readouts))

    def peaks(traces, rows):
        """Mean response over ``rows`` per presentation.

        The response is the max dF/F in [onset, onset + 1.5 s) minus the mean over the 0.5 s before
        the onset.
        """
        t = traces.times
        out = []
        for onset in onsets:
            win = (t >= onset) & (t < onset + 1.5)
            pre = (t >= onset - 0.5) & (t < onset)
            x = traces.dff[rows]
            out.append(float(np.mean(x[:, win].max(axis=1) - x[:, pre].mean(axis=1))))
        return np.array(out)

    inactive = np.setdiff1d(np.arange(n_granule), active)
    a_rows, b_rows = np.flatnonzero(group_a == 1), np.flatnonzero(group_a == 0)
    pre, post = readouts[0].pf_pre, readouts[0].pf_post
    from_active = np.isin(pre, active)
    counters = np.array([counters_from_weights(r.weights_after, params) for r in readouts])
    simple = np.array([r.purkinje_counts[0] for r in readouts])  # (P, v) decode-window spikes
    return {
        "kinds": kinds, "onsets": onsets, "duration": duration, "fps": fps,
        "granule": granule, "purkinje": purkinje, "active": active, "inactive": inactive,
        "group_a": a_rows, "group_b": b_rows,
        "granule_peak_active": peaks(granule, active),
        "granule_peak_inactive": peaks(granule, inactive[:200]),
        "pc_peak_a": peaks(purkinje, a_rows), "pc_peak_b": peaks(purkinje, b_rows),
        "counter_a": counters[:, from_active & np.isin(post, a_rows)].mean(axis=1),
        "counter_b": counters[:, from_active & np.isin(post, b_rows)].mean(axis=1),
        "simple_a": simple[:, a_rows].mean(axis=1), "simple_b": simple[:, b_rows].mean(axis=1),
        "bits_a": np.array([r.bits[0, a_rows].mean() for r in readouts]),
        "bits_b": np.array([r.bits[0, b_rows].mean() for r in readouts]),
        "populations": populations,
    }


# ------------------------------------------------------------------ hippocampus
def _world_run(config: Config, world, walk):
    from circuits.hippocampus.loop import run_walk

    base = config.hippocampus
    params = replace(base, memory=replace(base.memory, n=config.steps + 1))  # one per step
    return run_walk(params, world, walk, seed=child_seed(config.seed, "hpc_circuit"))


def _place_calcium(config: Config, readout, tag: str):
    """Memory-neuron dF/F on the dwell time axis, and the node of every frame."""
    i, t, n = readout.spikes["memory"]
    step = readout.inputs.step
    k = np.floor(t / step + 1e-9)
    stretched = k * config.dwell + (t - k * step)
    walk = readout.inputs.walk
    duration = len(walk.nodes) * config.dwell
    events = imaged_population("HPC", {"HPC": (i, stretched, n)}, "place_cell", "",
                               np.arange(n))
    traces = synthesize(events, n, duration, config.synthesis,
                        seed=child_seed(config.seed, "calcium", "place", tag))
    frames = frame_count(duration, config.synthesis.fps)
    frame_step = np.minimum(((np.arange(frames) + 0.5) / config.synthesis.fps
                             / config.dwell).astype(np.int64), len(walk.nodes) - 1)
    return traces, walk.nodes[frame_step]


def place_cell_remapping(config: Config, *, progress: bool = False) -> dict[str, Any]:
    """Walks in worlds A and B, memory-neuron dF/F maps and their remapping."""
    from models.worlds import parse_world, random_walk

    world_a = parse_world(config.world, seed=child_seed(config.seed, "hpc_world"))
    world_b = world_a.with_observations(seed=child_seed(config.seed, "hpc_world_b"))
    out: dict[str, Any] = {"world": world_a}
    for tag, world in (("A", world_a), ("B", world_b)):
        walk = random_walk(world, config.steps, repeat_bias=0.25,
                           seed=child_seed(config.seed, "hpc_walk", tag))
        readout = _world_run(config, world, walk)
        traces, frame_nodes = _place_calcium(config, readout, tag)
        n_nodes = world.n_nodes
        dff_maps = node_rate_map(frame_nodes, traces.dff.T.astype(float), n_nodes).rate
        spike_maps = node_rate_map(walk.nodes, readout.memory_counts.astype(float),
                                   n_nodes).rate
        out[tag] = {"traces": traces, "dff_maps": dff_maps, "spike_maps": spike_maps,
                    "walk": walk, "frame_nodes": frame_nodes}
    # memory neurons with retrieval spikes in both worlds (a neuron recruited late in a
    # walk may never be retrieved there: its map is flat)
    both = (np.nansum(out["A"]["spike_maps"], 1) > 0) & (np.nansum(out["B"]["spike_maps"], 1) > 0)
    out["cells"] = np.flatnonzero(both)
    A, B = out["A"], out["B"]
    out["remap_dff"] = remapping(A["dff_maps"][both], B["dff_maps"][both])
    out["remap_spikes"] = remapping(A["spike_maps"][both], B["spike_maps"][both])
    out["dff_vs_spikes_A"] = remapping(A["dff_maps"][both], A["spike_maps"][both])
    out["dff_vs_spikes_B"] = remapping(B["dff_maps"][both], B["spike_maps"][both])
    return out


# ------------------------------------------------------------------ run
def run(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> dict[str, Any]:
    """Run the selected parts; save metrics, figures and the predicted traces."""
    config.validate()
    metrics: dict[str, Any] = {"indicator": config.synthesis.indicator,
                               "fps": config.synthesis.fps,
                               "noise_level_target": config.synthesis.noise_level}
    if "cerebellum" in config.parts:
        cb = cerebellar_protocol(config, progress=progress)
        metrics["granule_active"] = len(cb["active"])
        for p, kind in enumerate(cb["kinds"]):
            tag = f"{p:02d}_{kind}"
            for key in ("granule_peak_active", "granule_peak_inactive", "pc_peak_a",
                        "pc_peak_b", "counter_a", "counter_b"):
                metrics[f"{key}_{tag}"] = float(cb[key][p])
            if kind == "probe":
                metrics[f"simple_a_{tag}"] = float(cb["simple_a"][p])
                metrics[f"simple_b_{tag}"] = float(cb["simple_b"][p])
                metrics[f"bits_a_{tag}"] = float(cb["bits_a"][p])
                metrics[f"bits_b_{tag}"] = float(cb["bits_b"][p])
        metrics["granule_noise_level"] = float(np.median(cb["granule"].noise_level))
        metrics["purkinje_noise_level"] = float(np.median(cb["purkinje"].noise_level))
        _learning_figure(run_dir, config, cb)
        _save_traces(run_dir, "learning_extinction_traces.npz", {
            "granule_dff": cb["granule"].dff, "purkinje_dff": cb["purkinje"].dff,
            "onsets": cb["onsets"], "kinds": np.array(cb["kinds"]), "active": cb["active"],
            "counter_a": cb["counter_a"], "counter_b": cb["counter_b"]})
    if "hippocampus" in config.parts:
        hp = place_cell_remapping(config, progress=progress)
        metrics["remap_dff_r_mean"] = hp["remap_dff"].mean
        metrics["remap_dff_r_shuffled"] = hp["remap_dff"].shuffled_mean
        metrics["remap_spike_r_mean"] = hp["remap_spikes"].mean
        metrics["dff_vs_spikes_r_mean"] = float(np.nanmean(np.r_[
            hp["dff_vs_spikes_A"].correlations, hp["dff_vs_spikes_B"].correlations]))
        metrics["place_cells"] = hp["remap_dff"].n_units
        metrics["place_noise_level"] = float(np.median(hp["A"]["traces"].noise_level))
        _remapping_figure(run_dir, config, hp)
    return metrics


def _save_traces(run_dir: RunDirectory, name: str, arrays: dict[str, np.ndarray]) -> None:
    from models.rundir import atomic_path

    with atomic_path(run_dir.file(name)) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)


_COLOURS = {"probe": "0.85", "acquisition": "#f4c7c3", "extinction": "#c6dbef"}


def _learning_figure(run_dir: RunDirectory, config: Config, cb: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, 1, figsize=(10, 11), sharex=False,
                             gridspec_kw={"height_ratios": [2.2, 1.3, 1.3, 1.3]})
    ax = axes[0]
    gr, pc = cb["granule"], cb["purkinje"]
    t = gr.times
    for p, (onset, kind) in enumerate(zip(cb["onsets"], cb["kinds"], strict=True)):
        ax.axvspan(onset, onset + 0.25, color=_COLOURS[kind], zorder=0,
                   label=kind if kind not in cb["kinds"][:p] else None)
    offset = 0.0
    for k, row in enumerate(cb["active"][:3]):
        ax.plot(t, gr.dff[row] + offset, lw=0.6, color="tab:green",
                label="granule soma (active for K)" if k == 0 else None)
        offset += 1.0
    for k, row in enumerate(cb["group_a"][:2]):
        ax.plot(t, pc.dff[row] + offset, lw=0.6, color="tab:red",
                label="Purkinje dendrite, group A" if k == 0 else None)
        offset += 1.5
    for k, row in enumerate(cb["group_b"][:2]):
        ax.plot(t, pc.dff[row] + offset, lw=0.6, color="tab:blue",
                label="Purkinje dendrite, group B" if k == 0 else None)
        offset += 1.5
    ax.set_xlabel(f"time (s): one presentation every {config.trial_interval:g} s")
    ax.set_ylabel("dF/F (offset)")
    ax.set_ylim(top=offset + 1.2)  # room for the legend
    ax.legend(fontsize=7, ncol=3, loc="upper left")
    ax.set_title(f"predicted {config.synthesis.indicator} imaging: write K->A (acquisition), "
                 f"write K->B (extinction), probes of K", fontsize=10)
    x = np.arange(len(cb["kinds"]))
    labels = [k[0].upper() if k != "probe" else "p" for k in cb["kinds"]]
    for ax in axes[1:]:
        for p, kind in enumerate(cb["kinds"]):
            ax.axvspan(p - 0.5, p + 0.5, color=_COLOURS[kind], zorder=0)
        ax.set_xticks(x, labels)
        ax.set_xlim(-0.5, len(x) - 0.5)
    ax = axes[1]
    ax.plot(x, cb["granule_peak_active"], "o-", color="tab:green", label="granule, active set")
    ax.plot(x, cb["granule_peak_inactive"], "o-", color="0.5", label="granule, others")
    ax.plot(x, cb["pc_peak_a"], "s-", color="tab:red", label="PC dendrites A")
    ax.plot(x, cb["pc_peak_b"], "s-", color="tab:blue", label="PC dendrites B")
    ax.set_ylabel("peak dF/F")
    ax.legend(fontsize=7, ncol=4)
    ax = axes[2]
    ax.plot(x, cb["counter_a"], "s-", color="tab:red", label="to PCs of group A")
    ax.plot(x, cb["counter_b"], "s-", color="tab:blue", label="to PCs of group B")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel("PF->PC counter\n(w0 - w)/ltp")
    ax.legend(fontsize=7, title=f"{len(cb['active'])} active granule cells", title_fontsize=7)
    ax = axes[3]
    probes = np.array([k == "probe" for k in cb["kinds"]])
    ax.plot(x[probes], cb["simple_a"][probes], "s-", color="tab:red", label="PC group A")
    ax.plot(x[probes], cb["simple_b"][probes], "s-", color="tab:blue", label="PC group B")
    ax.set_ylabel("simple spikes in\nprobe (not imaged)")
    ax.set_xlabel("presentation (p: probe, A: acquisition write, E: extinction write)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    run_dir.save_figure(fig, "learning_extinction")


def _node_image(ax, world, values, title: str, vmax: float) -> None:
    """A node-wise map: one square per node, coloured by its value."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    from analysis.spatial import lattice_spacing

    pos = world.positions
    side = 0.95 * lattice_spacing(pos)
    squares = PatchCollection([Rectangle((x - side / 2, y - side / 2), side, side)
                               for x, y in pos], cmap="magma")
    squares.set_array(np.nan_to_num(values, nan=0.0))
    squares.set_clim(0, vmax)
    ax.add_collection(squares)
    ax.set_xlim(pos[:, 0].min() - side, pos[:, 0].max() + side)
    ax.set_ylim(pos[:, 1].min() - side, pos[:, 1].max() + side)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8)


def _remapping_figure(run_dir: RunDirectory, config: Config, hp: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    world = hp["world"]
    a, b = hp["A"], hp["B"]
    cells = hp["cells"]  # the cells with the strongest spike fields in both worlds
    strength = np.minimum(np.nan_to_num(a["spike_maps"][cells]).max(axis=1),
                          np.nan_to_num(b["spike_maps"][cells]).max(axis=1))
    shown = cells[np.argsort(-strength)[:4]]
    fig = plt.figure(figsize=(12, 7))
    grid = fig.add_gridspec(3, 6)
    for col, neuron in enumerate(shown):
        vmax = max(np.nanmax(a["dff_maps"][neuron]), np.nanmax(b["dff_maps"][neuron]), 1e-3)
        _node_image(fig.add_subplot(grid[0, col]), world, a["dff_maps"][neuron],
                    f"cell {neuron}, world A", vmax)
        _node_image(fig.add_subplot(grid[1, col]), world, b["dff_maps"][neuron],
                    f"cell {neuron}, world B", vmax)
    ax = fig.add_subplot(grid[0:2, 4:6])
    bins = np.linspace(-1, 1, 21)
    ax.hist(hp["remap_dff"].correlations[np.isfinite(hp["remap_dff"].correlations)], bins,
            alpha=0.6, label=f"dF/F maps A vs B (mean {hp['remap_dff'].mean:.2f})")
    same = np.r_[hp["dff_vs_spikes_A"].correlations, hp["dff_vs_spikes_B"].correlations]
    ax.hist(same[np.isfinite(same)], bins, alpha=0.6,
            label=f"dF/F vs spike map, same world (mean {np.nanmean(same):.2f})")
    ax.set_xlabel("map correlation per memory neuron")
    ax.set_ylabel("neurons")
    ax.legend(fontsize=7)
    ax.set_title(f"remapping: spike maps A vs B r = {hp['remap_spikes'].mean:.2f}", fontsize=9)
    ax = fig.add_subplot(grid[2, :])
    t = a["traces"].times
    for k, neuron in enumerate(shown[:3]):
        ax.plot(t, a["traces"].dff[neuron] + 1.5 * k, lw=0.6, label=f"cell {neuron}")
    ax.set_xlabel(f"time in world A (s): {config.dwell:g} s per step")
    ax.set_ylabel("dF/F (offset)")
    ax.legend(fontsize=7, ncol=3)
    fig.suptitle(f"predicted place-cell {config.synthesis.indicator} imaging across two worlds "
                 f"({config.world}, {config.steps} steps each)", fontsize=10)
    fig.tight_layout()
    run_dir.save_figure(fig, "remapping")


def summarize(metrics: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = [f"calcium protocol ({metrics['indicator']}, {metrics['fps']:g} Hz, nu "
             f"{metrics['noise_level_target']}):"]
    probes = sorted(k for k in metrics if k.startswith("simple_a_"))
    if probes:
        first, last = probes[0][len("simple_a_"):], probes[-1][len("simple_a_"):]
        lines.append(f"  granule active set: {metrics['granule_active']} cells; probe "
                     f"{first}: PC A / B simple spikes {metrics['simple_a_' + first]:.1f} / "
                     f"{metrics['simple_b_' + first]:.1f}; probe {last}: "
                     f"{metrics['simple_a_' + last]:.1f} / {metrics['simple_b_' + last]:.1f}")
    if "remap_dff_r_mean" in metrics:
        lines.append(f"  place cells: dF/F map r across worlds {metrics['remap_dff_r_mean']:.2f} "
                     f"(spikes {metrics['remap_spike_r_mean']:.2f}); dF/F vs spike map "
                     f"{metrics['dff_vs_spikes_r_mean']:.2f}")
    return "\n".join(lines)
