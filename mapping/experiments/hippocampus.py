r"""``memcircuits hippocampus``: the spiking entorhinal-hippocampal loop on a graph world.

Runs the spiking TEM-t (:mod:`circuits.hippocampus.loop`) along a random walk and measures:

- **path integration**: ``path_integration_accuracy``, the fraction of steps whose decoded
  MEC phase (every module) equals the abstract transition of the walk's actions;
- **drift and loop closure**: a walk with ``drift`` (probability per step and module of a
  wrong phase update) with and without loop closure: ``position_error_with_closure`` /
  ``_without_closure``, the fraction of revisits whose MEC phase differs from the phase the
  map gave the node at its first visit (drift before a first visit shifts the map itself,
  which no memory can undo; ``wrong_modules_vs_truth_*`` counts modules off the true
  phase), and the prediction accuracy at visited nodes of each;
- **retrieval is attention** (:func:`mapping.hippocampus_vs_tem_t.compare_with_attention`):
  ``effective_beta`` fitted from the spikes, ``weight_spearman_vs_softmax`` (mean over steps
  of the Spearman correlation of normalised memory-neuron spike counts with
  :math:`\mathrm{softmax}(\beta k \cdot q)` over the 10 strongest memories; ``_median``),
  ``agreement_vs_attention`` (with ``temperature = "tem-t"`` the attention at TEM-t's
  :math:`\beta_t` on the cosine);
- **the model's temperature**: the shipped TEM-t runs on the same walk, and with
  ``temperature = "tem-t"`` (default) its :math:`b` sets the memory neurons' gain, so that it
  follows :math:`b \log(1 + N)`. The loop's inverse temperature on the key-query cosine is
  fitted from the spikes (:func:`mapping.hippocampus_vs_tem_t.beta_along_walk`) as a ratio to
  TEM-t's: ``beta_ratio_walk`` (``_se``; fitted on the whole walk, from
  ``beta_ratio_walk_spikes_off_best`` spikes off the best matches), per block of
  :data:`BETA_BLOCK` steps in ``beta_along_walk.csv`` (``beta_blocks_measured`` blocks with
  at least :data:`MEASURED_OFF_BEST` such spikes, ``beta_ratio_max_deviation_measured``;
  ``beta_ratio_lower_min`` the lowest one-sided 95% bound of any block; with deterministic
  memory neurons, whose counts are rounded rates rather than samples, only ``beta_note``);
- **behaviour**: ``accuracy_visited`` and ``max_gap_to_node_agent_after_half`` of the
  fraction-correct vs fraction-visited curve against the node agent;
- **cells**: ``mec_gridness_fraction`` (MEC cells with gridness > 0.3, next to
  ``mec_gridness_shuffled_fraction`` for node-shuffled maps), memory neurons' Skaggs
  information (``memory_spatial_information_median``), and remapping between two worlds of
  the same structure with different observations: ``memory_remapping_mean_r`` next to
  ``mec_remapping_mean_r``.

Data: ``spikes.nwb``, ``beta_along_walk.csv``; figures: ``prediction_curve``,
``mec_rate_maps``, ``memory_place_fields``, ``drift``, ``attention``, ``beta_along_walk``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from analysis.spatial import (
    NodeRateMap,
    gridness,
    node_rate_map,
    remapping,
    spatial_information,
)
from circuits.hippocampus.loop import HippocampusReadout, run_walk
from circuits.hippocampus.params import DEFAULT_BETA, HippocampusParams, MemoryParams
from mapping.hippocampus_vs_tem_t import (
    BetaAlongWalk,
    TEMTOnWalk,
    beta_along_walk,
    compare_with_attention,
    effective_beta_cosine,
    memories_stored,
    tem_t_on_walk,
)
from mapping.measures import write_inputs
from models.rundir import RunDirectory, atomic_write_csv
from models.seeding import child_seed
from models.worlds import (
    Walk,
    World,
    edge_agent,
    fraction_visited,
    link_inference_mask,
    node_agent,
    parse_world,
    random_walk,
    visited_before,
    walk_world,
)

__all__ = ["TEMPERATURES", "Config", "behaviour", "run", "summarize"]

#: ``temperature``: whose inverse temperature the memory neurons' gain follows
TEMPERATURES = ("tem-t", "circuit")


@dataclass(frozen=True)
class Config:
    """Parameters of ``memcircuits hippocampus``."""

    circuit: HippocampusParams = field(default_factory=lambda: HippocampusParams(
        memory=MemoryParams(spiking="poisson")))  #: the loop (memory neurons fire as
    #: Poisson processes, so a step's spikes sample its softmax and its beta can be fitted)
    temperature: str = "tem-t"  #: "tem-t": the memory neurons' gain follows b log(1 + N)
    #: of the TEM-t checkpoint run next to the loop (``circuit.memory.beta_scale`` = its b);
    #: "circuit": the gain ``circuit.memory`` sets
    world: str = "square:8x8"  #: world spec (models.worlds.parse_world)
    steps: int = 200  #: steps of the main walk (no drift)
    drift: float = 0.01  #: drift per step and module in the loop-closure comparison
    drift_steps: int = 150  #: steps of the two drift walks (with / without closure)
    remap_steps: int = 100  #: steps of the walk in the second world (remapping)
    repeat_bias: float = 0.25  #: probability of repeating the last action
    seed: int = 0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        for name in ("steps", "drift_steps", "remap_steps"):
            if getattr(self, name) < 0 or (name == "steps" and self.steps < 2):
                raise ValueError(f"{name} must be >= {2 if name == 'steps' else 0}")
        if not 0 <= self.drift < 1:
            raise ValueError("drift must lie in [0, 1)")
        world = walk_world(self.world)
        self.circuit.validate()
        if self.temperature not in TEMPERATURES:
            raise ValueError(f"temperature must be one of {', '.join(map(repr, TEMPERATURES))}"
                             f", got {self.temperature!r}")
        memory = self.circuit.memory
        if self.temperature == "tem-t" and (memory.beta_scale is not None
                                            or memory.beta != DEFAULT_BETA):
            name = "beta_scale" if memory.beta_scale is not None else "beta"
            raise ValueError(f"circuit.memory.{name}: temperature 'tem-t' sets the retrieval "
                             f"gain from the TEM-t checkpoint's b; set temperature = "
                             f"'circuit' to use your own")
        # the MEC's grid modules on this world's structure (a world without grid modules; a
        # TEM-t checkpoint missing, unsafe, of another model or other actions), so a bad one
        # is refused before the run directory is touched (or a sweep's workers start)
        from circuits.hippocampus.loop import mec_modules

        mec_modules(self.circuit.mec, world)
        if self.temperature == "tem-t":  # the checkpoint whose b sets the gain
            from models.tem_training import load_model

            try:
                load_model(self.tem_t_checkpoint, expected_type="tem-t", world_kind=world.kind,
                           device="cpu")
            except (ValueError, FileNotFoundError) as exc:
                raise ValueError(f"temperature 'tem-t': {exc}; set temperature = "
                                 f"'circuit'") from None
        # refuse a walk over the memory budget at load time, before anything is built
        from circuits.hippocampus.loop import check_loop_memory

        longest = max(("steps", "drift_steps", "remap_steps"), key=lambda k: getattr(self, k))
        steps = getattr(self, longest)
        circuit, grown = self.circuit, steps + 1 > self.circuit.memory.n
        if grown:  # run() recruits a memory neuron a step: memory.n grows with the walk
            circuit = replace(circuit, memory=replace(circuit.memory, n=steps + 1))
        check_loop_memory(circuit, steps, prefix="circuit.", steps_field=longest,
                          memory_follows_steps=grown)

    @property
    def tem_t_checkpoint(self) -> str:
        """The TEM-t run next to the loop: the one driving the MEC, or the shipped default."""
        mec = self.circuit.mec
        return mec.checkpoint_name if mec.source == "tem-t" else "default"


def behaviour(readout: HippocampusReadout) -> dict[str, Any]:
    """Prediction accuracy per step next to the node and edge agents (one walk)."""
    from models.tem_training import Evaluation

    walk, world = readout.inputs.walk, readout.inputs.world
    observations = walk.observations
    correct = (readout.predicted[1:] == observations[1:])[None, :]
    evaluation = Evaluation(
        world=world, correct=correct, visited=visited_before(walk)[None, :],
        link_inference=link_inference_mask(walk)[None, :],
        node_agent=node_agent(walk, world.n_symbols)[None, :],
        edge_agent=edge_agent(walk, world.n_symbols)[None, :],
        fraction_visited=fraction_visited(walk, world.n_nodes)[None, :],
        nodes=walk.nodes[None, :])
    return {"metrics": evaluation.metrics(bins=10, min_count=10),
            "curve": evaluation.curve(bins=10)}


def _tem_t_metrics(tem: TEMTOnWalk | str, walk: Walk) -> dict[str, Any]:
    """A shipped TEM-t on the circuit's own walk: its softmax beta and accuracy.

    ``tem`` is the run, or the reason there is none (no checkpoint for this kind of world).
    """
    if isinstance(tem, str):
        return {"tem_t_note": tem}
    visited = visited_before(walk)
    return {"tem_t_beta_scale": tem.beta_scale,
            "tem_t_beta_mean": float(tem.beta.mean()),
            "tem_t_beta_final": float(tem.beta[-1]),
            "tem_t_accuracy_visited": float(tem.correct[visited].mean()),
            "tem_t_wall_s": tem.wall_s}


#: steps per block of the effective beta along the walk
BETA_BLOCK = 50
#: spikes off the best matches a block needs for its ratio to count as measured
MEASURED_OFF_BEST = 10


def _beta_metrics(readout: HippocampusReadout, target: np.ndarray,
                  along: BetaAlongWalk) -> dict[str, float]:
    """The circuit's effective beta against TEM-t's, over the walk and per block.

    ``beta_ratio_walk`` is fitted on every step at once (one ratio); the block metrics use
    the blocks with at least :data:`MEASURED_OFF_BEST` spikes off the best matches (an
    attention sharper than the spikes can sample leaves none: those blocks give only a
    lower bound, ``beta_ratio_lower_min``).
    """
    whole = beta_along_walk(readout, target, block=len(target))
    measured = along.spikes_off_best >= MEASURED_OFF_BEST
    deviation = np.abs(along.ratio[measured] - 1)
    return {"beta_ratio_walk": float(whole.ratio[0]),
            "beta_ratio_walk_se": float(whole.ratio_se[0]),
            "beta_ratio_walk_spikes_off_best": float(whole.spikes_off_best[0]),
            "beta_blocks": len(along.start), "beta_blocks_measured": int(measured.sum()),
            "beta_ratio_max_deviation_measured": float(deviation.max()) if deviation.size
            else float("nan"),
            "beta_ratio_lower_min": float(np.nanmin(along.ratio_lower))}


def _walk(world: World, steps: int, config: Config, name: str) -> Walk:
    return random_walk(world, steps, repeat_bias=config.repeat_bias,
                       seed=child_seed(config.seed, name))


def _map_error(readout: HippocampusReadout) -> np.ndarray:
    """Per revisit: whether the MEC phase differs from the phase of the node's first visit.

    Does the MEC phase passed to the action differ from the phase the map gave this node at its
    first visit (in any module)?
    """
    first: dict[int, int] = {}
    errors = []
    for t, node in enumerate(readout.inputs.walk.nodes):
        if node in first:
            errors.append(bool((readout.hold_phase[t] != readout.hold_phase[first[node]]).any()))
        else:
            first[int(node)] = t
    return np.array(errors)


def _cell_maps(readout: HippocampusReadout) -> tuple[np.ndarray, np.ndarray]:
    """Node-wise rate maps of MEC cells and memory neurons.

    MEC cells: query spikes per step, ``(n_grid, n_nodes)``; memory neurons: retrieval spikes per
    step, ``(n_memory, n_nodes)``.
    """
    inputs = readout.inputs
    world, walk = inputs.world, inputs.walk
    T1 = len(walk.nodes)
    grid_activity = np.zeros((T1, inputs.modules.n_cells))
    for m in range(inputs.modules.n_modules):
        ok = readout.decoded_phase[:, m] >= 0
        grid_activity[np.flatnonzero(ok), inputs.modules.offsets[m]
                      + readout.decoded_phase[ok, m]] = 1.0
    grid_maps = node_rate_map(walk.nodes, grid_activity, world.n_nodes).rate
    memory_maps = node_rate_map(walk.nodes, readout.memory_counts.astype(float),
                                world.n_nodes).rate
    return grid_maps, memory_maps


def _raster(world: World, values: np.ndarray, visits: np.ndarray):
    """A node map of one unit rasterised onto a grid (Voronoi, see analysis.spatial)."""
    return NodeRateMap(rate=values, visits=visits, positions=world.positions).to_grid()


def run(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> dict[str, Any]:
    """Run the loop on the main walk, the drift walks and a second world; save results."""
    config.validate()
    params = config.circuit
    report = "text" if progress else None
    world = parse_world(config.world, seed=child_seed(config.seed, "world"))
    walk = _walk(world, config.steps, config, "walk")
    # the TEM-t next to the circuit (the checkpoint that drives the MEC, if one does)
    try:
        tem: TEMTOnWalk | str = tem_t_on_walk(world, walk, checkpoint=config.tem_t_checkpoint)
    except ValueError as exc:  # no checkpoint for this kind of world ("circuit" only)
        tem = str(exc)
    if config.temperature == "tem-t":
        params = replace(params, memory=replace(params.memory, beta_scale=tem.beta_scale))
    mem = replace(params.memory, n=max(params.memory.n, config.steps + 1))
    main = run_walk(replace(params, memory=mem, mec=replace(params.mec, drift=0.0)), world,
                    walk, seed=child_seed(config.seed, "circuit"), report=report)

    metrics: dict[str, Any] = {"world": config.world, "steps": config.steps,
                               "memory_neurons": mem.n, "mec_source": params.mec.source,
                               "mec_module_sizes": ",".join(map(str, main.inputs.modules.sizes))}
    metrics["path_integration_accuracy"] = float(
        (main.decoded_phase == main.inputs.true_phases).all(1).mean())
    # TEM-t's inverse temperature at each of the circuit's steps, N memories stored before it
    target = None if isinstance(tem, str) else \
        tem.beta_scale * np.log1p(memories_stored(main))
    comparison = compare_with_attention(
        main, beta=target if config.temperature == "tem-t" else None)
    metrics["temperature"] = config.temperature
    metrics["memory_spiking"] = params.memory.spiking
    metrics["effective_beta"] = comparison.beta
    if params.memory.beta_scale is None:
        metrics["circuit_beta"] = params.memory.beta
    else:
        metrics["circuit_beta_scale"] = params.memory.beta_scale
    metrics["weight_spearman_vs_softmax"] = float(np.nanmean(comparison.spearman))
    metrics["weight_spearman_vs_softmax_median"] = comparison.median_spearman
    metrics["weight_spearman_steps"] = int(np.isfinite(comparison.spearman).sum())
    metrics["agreement_vs_attention"] = comparison.agreement_fraction
    metrics["effective_beta_cosine"] = effective_beta_cosine(main)
    metrics.update(_tem_t_metrics(tem, walk))
    along = None
    if target is not None and params.memory.spiking == "deterministic":
        metrics["beta_note"] = ("deterministic memory neurons: their counts are rounded "
                                "rates, not samples, so the loop's beta along the walk is "
                                "not fitted (set circuit.memory.spiking = 'poisson')")
    elif target is not None:
        along = beta_along_walk(main, target, block=BETA_BLOCK)
        metrics.update(_beta_metrics(main, target, along))
        atomic_write_csv(run_dir.file("beta_along_walk.csv"), [
            {"start": int(along.start[b]), "stop": int(along.stop[b]),
             "tem_t_beta": along.target[b], "circuit_beta": along.beta[b],
             "ratio": along.ratio[b], "ratio_se": along.ratio_se[b],
             "ratio_lower_95": along.ratio_lower[b],
             "spikes_off_best": int(along.spikes_off_best[b])}
            for b in range(len(along.start))])
    write_inputs(run_dir, "hippocampus",
                 {"world_transitions": world.transitions,
                  "world_observations": world.observations,
                  "walk_nodes": walk.nodes, "walk_actions": walk.actions,
                  "walk_observations": walk.observations},
                 seed=config.seed, world=config.world, steps=config.steps)
    behave = behaviour(main)
    metrics.update(behave["metrics"])

    grid_maps, memory_maps = _cell_maps(main)
    visits = np.bincount(walk.nodes, minlength=world.n_nodes).astype(float)
    scores = np.array([gridness(_raster(world, grid_maps[c], visits))
                       for c in range(len(grid_maps))])
    metrics["mec_gridness_fraction"] = float(np.mean(scores > 0.3))
    metrics["mec_gridness_median"] = float(np.nanmedian(scores))
    shuffled = []
    rng = np.random.default_rng(child_seed(config.seed, "shuffle"))
    for c in range(len(grid_maps)):
        values = grid_maps[c].copy()
        rng.shuffle(values)
        shuffled.append(gridness(_raster(world, values, visits)))
    metrics["mec_gridness_shuffled_fraction"] = float(np.mean(np.array(shuffled) > 0.3))
    active = np.flatnonzero(np.nansum(memory_maps, 1) > 0)
    info = spatial_information(np.nan_to_num(memory_maps[active]), visits)
    metrics["memory_spatial_information_median"] = float(np.nanmedian(info))
    metrics["memory_neurons_active"] = len(active)

    if config.remap_steps > 0:
        world_b = world.with_observations(seed=child_seed(config.seed, "world_b"))
        walk_b = _walk(world_b, config.remap_steps, config, "walk_b")
        other = run_walk(replace(params, memory=mem, mec=replace(params.mec, drift=0.0)),
                         world_b, walk_b, seed=child_seed(config.seed, "circuit"),
                         report=report)
        grid_b, memory_b = _cell_maps(other)
        n_common = min(config.steps, config.remap_steps) + 1
        mem_r = remapping(memory_maps[:n_common], memory_b[:n_common])
        grid_r = remapping(grid_maps, grid_b)
        metrics["memory_remapping_mean_r"] = mem_r.mean
        metrics["memory_remapping_shuffled_r"] = mem_r.shuffled_mean
        metrics["mec_remapping_mean_r"] = grid_r.mean

    drift_curves = {}
    if config.drift_steps > 0 and config.drift > 0:
        walk_d = _walk(world, config.drift_steps, config, "drift_walk")
        mem_d = replace(params.memory, n=max(params.memory.n, config.drift_steps + 1))
        for closure in (True, False):
            p = replace(params, memory=mem_d,
                        mec=replace(params.mec, drift=config.drift, loop_closure=closure))
            readout = run_walk(p, world, walk_d, seed=child_seed(config.seed, "circuit"),
                               report=report)
            tag = "with_closure" if closure else "without_closure"
            error = _map_error(readout)
            drift_curves[tag] = error
            vis = np.r_[False, visited_before(walk_d)]
            metrics[f"position_error_{tag}"] = float(error.mean())
            metrics[f"wrong_modules_vs_truth_{tag}"] = float(
                (readout.hold_phase != readout.inputs.true_phases).sum(1).mean())
            metrics[f"prediction_accuracy_visited_{tag}"] = float(
                (readout.predicted[vis] == walk_d.observations[vis]).mean())
        metrics["drift"] = config.drift

    from analysis.nwb import write_spikes

    populations = {"MEC": main.spikes["grid"], "MEC_hold": main.spikes["arbiter"],
                   "HPC": main.spikes["memory"], "LEC": main.spikes["lec"]}
    write_spikes(run_dir.file("spikes.nwb"), populations,
                 session_description=f"memcircuits hippocampus: {config.steps}-step walk on "
                                     f"{config.world}", experiment_description=f"seed "
                                                                              f"{config.seed}")
    _figures(run_dir, config, main, behave["curve"], grid_maps, memory_maps, scores,
             comparison, drift_curves, world, visits)
    if along is not None:
        _beta_figure(run_dir, config, target, along)
    return metrics


def _figures(run_dir, config, main, curve, grid_maps, memory_maps, scores, comparison,
             drift_curves, world, visits) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    x = curve["fraction_visited"]
    ax.plot(x, curve["model"], "o-", label="spiking loop")
    ax.plot(x, curve["node_agent"], "k--", label="node agent")
    ax.plot(x, curve["edge_agent"], ":", color="0.5", label="edge agent")
    ax.set_xlabel("fraction of nodes visited")
    ax.set_ylabel("fraction correct")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    ax.set_title(f"next-observation prediction, {config.world}, {config.steps} steps",
                 fontsize=9)
    fig.tight_layout()
    run_dir.save_figure(fig, "prediction_curve")

    mods = main.inputs.modules
    shown = [mods.offsets[m] + k for m in range(mods.n_modules) for k in (0, 1)]
    fig, axes = plt.subplots(1, len(shown), figsize=(2.2 * len(shown), 2.6))
    for ax, c in zip(axes, shown, strict=True):
        raster = _raster(world, grid_maps[c], visits)
        ax.imshow(raster.rate.T, origin="lower", cmap="viridis")
        ax.set_title(f"MEC cell {c}\nG = {scores[c]:.2f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    what = (f"TEM-t modules of {mods.sizes} phases" if mods.source == "tem-t"
            else f"modules with spacings {mods.spacings}")
    fig.suptitle(f"grid cells ({what}); "
                 f"{np.mean(scores > 0.3):.0%} with gridness > 0.3", fontsize=9)
    fig.tight_layout()
    run_dir.save_figure(fig, "mec_rate_maps")

    totals = np.nansum(memory_maps, 1)
    top = np.argsort(-totals)[:6]
    fig, axes = plt.subplots(1, len(top), figsize=(2.2 * len(top), 2.6))
    for ax, unit in zip(np.atleast_1d(axes), top, strict=True):
        raster = _raster(world, memory_maps[unit], visits)
        ax.imshow(raster.rate.T, origin="lower", cmap="magma")
        ax.set_title(f"memory neuron {unit}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("hippocampal memory neurons: place fields (retrieval spikes per visit)",
                 fontsize=9)
    fig.tight_layout()
    run_dir.save_figure(fig, "memory_place_fields")

    if drift_curves:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for tag, error in drift_curves.items():
            steps = np.arange(len(error))
            running = np.cumsum(error) / (steps + 1)
            ax.plot(steps, running, label=f"{tag.replace('_', ' ')} "
                                          f"(mean {error.mean():.2f})")
        ax.set_xlabel("revisit")
        ax.set_ylabel("fraction of revisits off the map so far")
        ax.set_title(f"path-integration drift {config.drift} per step and module", fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        run_dir.save_figure(fig, "drift")

    fig, ax = plt.subplots(figsize=(5, 3.6))
    valid = np.isfinite(comparison.spearman)
    ax.hist(comparison.spearman[valid], bins=20, color="tab:purple")
    ax.set_xlabel("Spearman r, spikes vs softmax (10 strongest memories)")
    ax.set_ylabel("steps")
    ax.set_title(f"effective beta {comparison.beta:.2f}; mean r "
                 f"{np.nanmean(comparison.spearman):.3f}; predictions agree "
                 f"{comparison.agreement_fraction:.1%}", fontsize=8)
    fig.tight_layout()
    run_dir.save_figure(fig, "attention")


def _beta_figure(run_dir: RunDirectory, config: Config, target: np.ndarray,
                 along: BetaAlongWalk) -> None:
    """TEM-t's beta at every step and the circuit's, fitted per block from the spikes."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot(np.arange(len(target)), target, "k-", lw=1, label="TEM-t: b log(1 + N)")
    centre = 0.5 * (along.start + along.stop - 1)
    measured = along.spikes_off_best >= MEASURED_OFF_BEST
    ax.errorbar(centre[measured], along.beta[measured],
                yerr=(along.ratio_se * along.target)[measured], fmt="o", color="tab:red",
                label=f"spiking loop (>= {MEASURED_OFF_BEST} spikes off the best match)")
    bounded = ~measured & np.isfinite(along.ratio_lower)
    ax.plot(centre[bounded], (along.ratio_lower * along.target)[bounded], "^",
            color="tab:red", mfc="none",
            label="spiking loop, fewer: 95% lower bound")
    ax.set_xlabel("step of the walk")
    ax.set_ylabel("inverse temperature on the key-query cosine")
    ax.set_title(f"{config.world}, {config.steps} steps, blocks of {BETA_BLOCK}; "
                 f"temperature {config.temperature!r}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    run_dir.save_figure(fig, "beta_along_walk")


def summarize(metrics: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    nan = float("nan")
    lines = [
        f"spiking TEM-t on {metrics['world']}, {metrics['steps']} steps, "
        f"{metrics['memory_neurons']} memory neurons, MEC modules "
        f"{metrics.get('mec_source', 'analytic')} {metrics.get('mec_module_sizes', '')}",
        f"  path integration accuracy {metrics['path_integration_accuracy']:.4f}",
        f"  retrieval vs softmax: effective beta {metrics['effective_beta']:.2f}, Spearman "
        f"(top 10) mean {metrics['weight_spearman_vs_softmax']:.3f}, predictions agree "
        f"{metrics['agreement_vs_attention']:.3f}",
        f"  TEM-t (checkpoint, same walk): beta {metrics.get('tem_t_beta_mean', nan):.2f} "
        f"mean, accuracy at visited nodes {metrics.get('tem_t_accuracy_visited', nan):.3f}; "
        f"the loop's gain: {metrics.get('temperature', 'circuit')}",
        f"  {metrics['beta_note']}" if "beta_note" in metrics else
        f"  the loop's beta / TEM-t's over the walk {metrics.get('beta_ratio_walk', nan):.3f}"
        f" +- {metrics.get('beta_ratio_walk_se', nan):.3f} "
        f"({metrics.get('beta_ratio_walk_spikes_off_best', nan):.0f} spikes off the best "
        f"match); blocks measured {metrics.get('beta_blocks_measured', 0)} of "
        f"{metrics.get('beta_blocks', 0)}, largest |ratio - 1| "
        f"{metrics.get('beta_ratio_max_deviation_measured', nan):.3f}",
        f"  accuracy at visited nodes {metrics['accuracy_visited']:.3f}; largest gap to the "
        f"node agent past half visited {metrics['max_gap_to_node_agent_after_half']:.3f}",
        f"  MEC gridness > 0.3: {metrics['mec_gridness_fraction']:.2f} (shuffled "
        f"{metrics['mec_gridness_shuffled_fraction']:.2f}); memory spatial info median "
        f"{metrics['memory_spatial_information_median']:.2f} bits",
    ]
    if "memory_remapping_mean_r" in metrics:
        lines.append(f"  remapping r: memory neurons {metrics['memory_remapping_mean_r']:.2f}, "
                     f"MEC {metrics['mec_remapping_mean_r']:.2f}")
    if "position_error_with_closure" in metrics:
        lines.append(f"  drift {metrics['drift']}: phase error with closure "
                     f"{metrics['position_error_with_closure']:.3f}, without "
                     f"{metrics['position_error_without_closure']:.3f}")
    return "\n".join(lines)
