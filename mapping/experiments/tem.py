r"""``memcircuits tem train|evaluate|compare``: TEM and TEM-t on graph worlds.

``tem train`` trains TEM-t (default) or TEM with :func:`models.tem_training.train` into a run
directory (``config.json``, ``checkpoint.pt`` rewritten atomically, ``metrics.json``,
``figures/training_curve.png``); run again on the same directory it resumes from the last
checkpoint.

``tem evaluate`` loads a checkpoint (``default``: the pretrained TEM-t shipped in
``models/checkpoints`` for the world's kind) and measures, on fresh worlds of one structure:

1. **Behaviour** (:func:`models.tem_training.evaluate`): every step of ``n_worlds`` walks is
   scored; ``accuracy_visited``, ``accuracy_link_inference``, the curve of fraction correct
   vs fraction of nodes visited next to the node and edge agents, and
   ``max_gap_to_node_agent_after_half``. Figure ``fraction_correct``.
2. **Representations** (must-show c): ``analysis_worlds`` long walks (``analysis_steps_per_node``
   steps per node), all from the same start node, each world with its own symbols. For each
   position unit (TEM-t ``e``, TEM ``g``) the node-wise rate map (mean activity per node,
   :func:`analysis.spatial.node_rate_map`, pooled over the worlds) is rasterised
   (:meth:`~analysis.spatial.NodeRateMap.to_grid`, nearest node, a quarter lattice spacing per
   bin) and scored with Sargolini's gridness; ``position_gridness_fraction`` is the fraction
   of units with gridness > ``gridness_threshold`` (NaN scores count as not grid-like).
   Control: ``position_gridness_fraction_shuffled``, the same fraction for the same units'
   maps with their node values randomly permuted (on small lattices, rasterised random maps
   already pass 0.3 at 10-25 %, so only the excess over this control means grid structure).
   Memory units (TEM-t: the memory neurons, one per stored step, whose activity is the
   softmax weight :math:`w_{t,\tau}`; TEM: the place cells :math:`p`, rectified) get
   Skaggs spatial information (bits per unit activity, node-wise, occupancy = visits).
   Memory neurons are sampled among those stored in the first half of each walk and mapped
   over the second half (when all of them exist). **Remapping**: the same units' maps in
   world A and world B (two of the analysis worlds: same structure and start node, new
   symbols, a different walk) are correlated (:func:`analysis.spatial.remapping`): position
   units keep their maps; memory neurons, re-recruited in every world, remap. Figures
   ``rate_maps_position``, ``gridness_histogram``, ``rate_maps_memory``, ``remapping``.
3. **Relations** (line and family-tree worlds, :mod:`models.tem_relations`): after walks of
   two steps per node, every relation the walk never took from its start node (on a line,
   ``k`` steps right or left: transitive inference; on a tree, grandparent, aunt or uncle,
   cousin...) is imagined from the start node's memory and read out: ``accuracy_relations``
   next to the node agent and the chained edge agent, ``accuracy_relations_unchained`` on
   the queries the edge agent cannot chain, ``accuracy_<relation>``. Figure ``relations``.
   TEM-t checkpoints only (TEM does not imagine).

A checkpoint trained on worlds with other actions than the world's is refused.

``tem compare`` runs a TEM and a TEM-t checkpoint on the same fresh worlds and puts both
learning curves on one figure (:mod:`mapping.tem_comparison`).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "EvaluateConfig",
    "add_arguments",
    "load_train_config",
    "run_command",
    "run_evaluate",
    "run_train",
    "spatial_analysis",
    "summarize_evaluate",
    "summarize_train",
]


@dataclass(frozen=True)
class EvaluateConfig:
    """``memcircuits tem evaluate``: checkpoint, world and analysis sizes."""

    checkpoint: str = "default"  # checkpoint path, or a shipped name (default, cyclic, torus)
    model: str = ""  # the model the checkpoint must hold: "tem-t" or "tem" (empty: either)
    world: str = "square:8x8"  # structure to test on (parse_world spec); symbols are fresh
    n_worlds: int = 16  # fresh worlds (walks) scored for behaviour
    steps: int = 0  # walk length of the behaviour test (0: 6 steps per node)
    repeat_bias: float = 0.25  # bias of the walks to repeat the last action
    analysis_worlds: int = 4  # worlds of the long walks for rate maps (>= 2 for remapping)
    analysis_steps_per_node: int = 20  # length of those walks, in steps per node
    memory_neurons: int = 200  # memory neurons sampled per world for spatial information
    gridness_threshold: float = 0.3  # a position unit is grid-like above this gridness
    device: str = "cpu"  # torch device
    seed: int = 0  # seed of the symbols and walks
    num_threads: int = 1  # torch CPU threads

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        from models._checks import check_device, check_int, check_real
        from models.worlds import walk_world

        if not isinstance(self.checkpoint, str) or not self.checkpoint:
            raise ValueError("checkpoint must be a path or 'default'")
        world = walk_world(self.world)
        from models.tem_training import named_checkpoint_path, shipped_checkpoints

        if self.model not in ("", "tem-t", "tem"):
            raise ValueError(f"model must be 'tem-t' or 'tem' (or empty: either), got "
                             f"{self.model!r}")
        model = self.model or "tem-t"  # a shipped name without --model: TEM-t's
        if self.checkpoint in shipped_checkpoints(model):  # a shipped file for this world
            named_checkpoint_path(self.checkpoint, world.kind, model)
        elif self.checkpoint in shipped_checkpoints("tem-t") and model == "tem":
            raise ValueError(f"checkpoint {self.checkpoint!r}: a shipped TEM-t checkpoint; "
                             f"with --model tem use a TEM one ("
                             f"{', '.join(shipped_checkpoints('tem'))}) or your own "
                             f"(memcircuits tem train --model tem --out DIR, then "
                             f"--checkpoint DIR)")
        check_int("n_worlds", self.n_worlds, minimum=1)
        check_int("steps", self.steps, minimum=0)
        check_real("repeat_bias", self.repeat_bias, minimum=0.0, maximum=1.0)
        check_int("analysis_worlds", self.analysis_worlds, minimum=2)
        check_int("analysis_steps_per_node", self.analysis_steps_per_node, minimum=1)
        check_int("memory_neurons", self.memory_neurons, minimum=1)
        check_real("gridness_threshold", self.gridness_threshold)
        check_device("device", self.device)
        check_int("seed", self.seed, minimum=0)
        check_int("num_threads", self.num_threads, minimum=0)
        self._check_memory(world.n_nodes)

    def _check_memory(self, n_nodes: int) -> None:
        """Refuse walk sizes over the memory budget before any walk or model is made.

        Per walk step: the walk (``random_walk``'s Python lists, ~180 bytes), the model's
        memory of every step (float32 keys, values and positions, ~160 numbers, copied by
        each window's ``torch.cat``: ~1.3 kB); the analysis walks also record the activity
        of ``memory_neurons`` memory units and the position units (~64) in float32. Budget:
        ``MEMCIRCUITS_MEMORY_BUDGET_GIB`` or 80% of physical memory.
        """
        from models._memory import refuse_over_budget

        per_step = 180 + 8 * 160
        behaviour_steps = self.steps or max(1, round(6 * n_nodes))
        analysis_steps = self.analysis_steps_per_node * n_nodes
        behaviour = self.n_worlds * behaviour_steps * per_step
        analysis = self.analysis_worlds * analysis_steps * (
            per_step + 4 * (self.memory_neurons + 65))
        if behaviour >= analysis:
            field, value = (("n_worlds", self.n_worlds)
                            if self.n_worlds / 16 >= behaviour_steps / (6 * n_nodes)
                            else ("steps", self.steps))
        else:
            field, value = (("analysis_steps_per_node", self.analysis_steps_per_node)
                            if self.analysis_steps_per_node / 20 >= self.analysis_worlds / 4
                            else ("analysis_worlds", self.analysis_worlds))
        refuse_over_budget(field, value, behaviour + analysis,
                           f"behaviour: {self.n_worlds} walks of {behaviour_steps} steps, "
                           f"{behaviour / 2**30:.3g} GiB; analysis: {self.analysis_worlds} "
                           f"walks of {analysis_steps} steps, {analysis / 2**30:.3g} GiB")


# ----------------------------------------------------------------------------- train
def load_train_config(path: Path | None, overrides: list[str], *, model: str | None = None,
                      seed: int | None = None, device: str | None = None) -> Any:
    """Resolve a :class:`~models.tem_training.TrainConfig` from a TOML file and overrides.

    The models' ``n_actions`` follows the training worlds unless set explicitly.
    """
    from models.config import ConfigError, load_config, parse_override
    from models.tem_training import TrainConfig
    from models.worlds import parse_world

    overrides = list(overrides)
    if model is not None:
        overrides.append(f"model={model}")
    if seed is not None:
        overrides.append(f"seed={seed}")
    if device is not None:
        overrides.append(f'device="{device}"')
    # find the worlds (file, then overrides) to fill in n_actions
    worlds: Any = TrainConfig().worlds
    explicit = set()
    if path is not None and Path(path).is_file():
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        try:
            data = tomllib.loads(Path(path).read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            data = {}  # load_config below reports the syntax or encoding error
        worlds = data.get("worlds", worlds)
        for key in ("tem_t", "tem"):
            if isinstance(data.get(key), dict) and "n_actions" in data[key]:
                explicit.add(key)
    for text in overrides:
        keys, value = parse_override(text)
        if keys == ["worlds"]:
            worlds = value
        if len(keys) == 2 and keys[1] == "n_actions":
            explicit.add(keys[0])
    if isinstance(worlds, str):
        worlds = [worlds]
    if not isinstance(worlds, list | tuple):
        raise ConfigError(f"worlds must be a list of world specs such as [\"square:8x8\"], "
                          f"got {worlds!r}")
    if not worlds:
        raise ConfigError("worlds must name at least one world structure (e.g. "
                          "worlds=[\"square:8x8\"]), got an empty list")
    try:
        n_actions = parse_world(worlds[0], seed=0).n_actions
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"worlds: {exc}") from exc
    for key in ("tem_t", "tem"):
        if key not in explicit:
            overrides.insert(0, f"{key}.n_actions={n_actions}")
    return load_config(TrainConfig, path, overrides)


def run_train(config: Any, out: Path, *, progress: bool = True,
              command: str | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Train (or resume) into ``out``; write ``config.json``, ``metrics.json`` and figures.

    ``out`` holding an earlier ``tem train`` run is resumed from its checkpoint (its
    ``metrics.json`` is removed until training finishes again); one holding another
    command's run is refused; ``overwrite`` clears it and starts afresh.

    Returns the flat metrics: ``steps``, ``episodes``, ``resumed_from_step``,
    ``wall_time_s`` (training time summed over all sessions of the run),
    ``steps_per_second``, ``final_loss`` and ``final_accuracy_visited`` (means over the last
    10 episodes: accuracy at steps whose node was visited before, on the training walks).
    """
    from models.rundir import claim_run_directory
    from models.tem_training import check_resume

    config.validate()
    if not overwrite:  # refuse a checkpoint that cannot be resumed before touching ``out``
        check_resume(config, out)  # (claiming it to resume removes its metrics.json)
    with claim_run_directory(out, run="tem train",
                             mode="overwrite" if overwrite else "resume") as run_dir:
        return _train_into(config, run_dir, progress=progress, command=command)


def _train_into(config: Any, run_dir: Any, *, progress: bool,
                command: str | None) -> dict[str, Any]:
    import numpy as np

    from models.config import to_dict
    from models.tem_training import train

    command = command if command is not None else " ".join(["memcircuits", *sys.argv[1:]])
    run_dir.write_config(to_dict(config), seed=config.seed, command=command)
    result = train(config, run_dir.path, progress=progress,
                   metadata={"command": command})
    last = result.history[-10:]
    metrics: dict[str, Any] = {
        "model": config.model,
        "steps": result.step,
        "episodes": result.episode,
        "resumed_from_step": result.resumed_from,
        "wall_time_s": round(result.wall_time_s, 3),
        "steps_per_second": result.step / result.wall_time_s if result.wall_time_s else None,
        "final_loss": float(np.mean([h["loss"] for h in last])) if last else None,
        "final_accuracy_visited": float(np.mean([h["accuracy_visited"] for h in last]))
        if last else None,
        "checkpoint": str(result.checkpoint),
        # this session's changes of a resumed run (a new stage), e.g. "window 20 -> 100"
        "changes_on_resume": "; ".join(f"{c['field']} {c['from']} -> {c['to']}"
                                       for c in result.changes_on_resume),
    }
    if result.history:
        run_dir.save_figure(_training_figure(result.history, config.model), "training_curve")
    run_dir.write_metrics(metrics)
    return metrics


def _training_figure(history: list[dict[str, float]], model: str) -> Any:
    import matplotlib.pyplot as plt
    import numpy as np

    step = np.array([h["step"] for h in history])
    loss = np.array([h["loss"] for h in history])
    acc = np.array([h["accuracy_visited"] for h in history])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    axes[0].plot(step, loss, lw=0.8)
    axes[0].set(xlabel="optimiser step", ylabel="loss per window", title=f"{model}: loss")
    axes[1].plot(step, acc, lw=0.8)
    axes[1].set(xlabel="optimiser step", ylabel="fraction correct",
                title="accuracy at visited nodes (training walks)", ylim=(0, 1.02))
    fig.tight_layout()
    return fig


def summarize_train(metrics: dict[str, Any]) -> str:
    """Lines printed after ``tem train``."""
    rate = metrics.get("steps_per_second")
    return (f"tem train ({metrics['model']}): {metrics['steps']} steps, {metrics['episodes']} "
            f"episodes (resumed from step {metrics['resumed_from_step']}), "
            f"{metrics['wall_time_s']:.1f} s"
            + (f" ({rate:.1f} steps/s)" if rate else "") + "\n"
            + (f"changed on resume: {metrics['changes_on_resume']}\n"
               if metrics.get("changes_on_resume") else "")
            + f"final loss {metrics['final_loss']:.3f}, accuracy at visited nodes "
            f"{metrics['final_accuracy_visited']:.3f} (training walks)\n"
            f"checkpoint: {metrics['checkpoint']}")


# -------------------------------------------------------------------------- evaluate
def spatial_analysis(model: Any, world: Any, *, analysis_worlds: int = 4,
                     steps_per_node: int = 20, memory_neurons: int = 200,
                     gridness_threshold: float = 0.3, repeat_bias: float = 0.25,
                     seed: int = 0) -> dict[str, Any]:
    """Rate maps, gridness, spatial information and remapping of a model's units.

    See the module docstring for the protocol. Returns ``{"metrics": flat dict, ...}`` with
    the arrays the figures need (``position_maps`` rasterised, ``gridness``,
    ``memory_maps``, ``memory_information``, remapping correlations).
    """
    import numpy as np

    from analysis.spatial import (
        NodeRateMap,
        gridness,
        node_rate_map,
        remapping,
        spatial_information,
    )
    from models.seeding import child_seed
    from models.tem_training import evaluate

    n_nodes = world.n_nodes
    steps = steps_per_node * n_nodes
    centre = int(np.argmin(((world.positions - world.positions.mean(0)) ** 2).sum(1)))
    half = steps // 2
    slots = None
    if model.model_type == "tem-t":
        # memory neuron tau is stored at step tau: sample among the first half of the walk
        rng = np.random.default_rng(child_seed(seed, "memory-neurons"))
        slots = np.sort(rng.choice(half, size=min(memory_neurons, half), replace=False))
    ev = evaluate(model, world, n_worlds=analysis_worlds, steps=steps, repeat_bias=repeat_bias,
                  starts=[centre] * analysis_worlds, record=True, memory_units=slots,
                  seed=child_seed(seed, "analysis"))
    nodes, pos_act, mem_act = ev.nodes, ev.positions, ev.memory_activity
    # position units: pooled node-wise maps, then rasterised for gridness
    pooled = node_rate_map(nodes.reshape(-1), pos_act.reshape(-1, pos_act.shape[-1]), n_nodes,
                           node_positions=world.positions)
    image = pooled.to_grid()
    grid_scores = np.asarray(gridness(image.rate), dtype=np.float64)
    # control: the same units' node values permuted over the nodes (no spatial structure)
    rng = np.random.default_rng(child_seed(seed, "gridness-shuffle"))
    shuffled = np.stack([row[rng.permutation(n_nodes)] for row in pooled.rate])
    shuffled_scores = np.asarray(gridness(NodeRateMap(
        rate=shuffled, visits=pooled.visits, positions=world.positions).to_grid().rate),
        dtype=np.float64)
    per_world = [node_rate_map(nodes[b], pos_act[b], n_nodes).rate for b in range(2)]
    pos_remap = remapping(per_world[0], per_world[1])
    # memory units
    if model.model_type == "tem-t":
        # map the sampled neurons over the second half of the walk (query t, agent at
        # nodes[t+1], for t in [half, T)): every one of them exists by then
        mem_maps = [node_rate_map(nodes[b, half + 1:], mem_act[b, half:], n_nodes).rate
                    for b in range(analysis_worlds)]
        memory_kind = "memory neurons"
    else:
        mem_maps = []
        for b in range(analysis_worlds):
            act = np.maximum(mem_act[b], 0.0)  # place cells rectified for Skaggs information
            mem_maps.append(node_rate_map(nodes[b, 1:], act, n_nodes).rate)
        slots = np.arange(mem_act.shape[-1])
        memory_kind = "place cells p"
    visits = [np.bincount(nodes[b, half + 1:] if model.model_type == "tem-t" else nodes[b, 1:],
                          minlength=n_nodes).astype(np.float64) for b in range(analysis_worlds)]
    info = np.concatenate([np.asarray(spatial_information(np.nan_to_num(m, nan=0.0), v)
                                      ).reshape(-1) for m, v in zip(mem_maps, visits,
                                                                    strict=True)])
    mem_remap = remapping(mem_maps[0], mem_maps[1])
    finite = np.isfinite(grid_scores)
    metrics = {
        "analysis_steps": steps,
        "position_units": int(grid_scores.size),
        "position_gridness_fraction": float((grid_scores[finite] > gridness_threshold).sum()
                                            / grid_scores.size),
        "position_gridness_fraction_shuffled": float(
            (shuffled_scores[np.isfinite(shuffled_scores)] > gridness_threshold).sum()
            / shuffled_scores.size),
        "position_gridness_median": float(np.nanmedian(grid_scores)) if finite.any()
        else float("nan"),
        "position_gridness_max": float(np.nanmax(grid_scores)) if finite.any()
        else float("nan"),
        "position_remapping_mean_r": pos_remap.mean,
        "position_remapping_shuffled_r": pos_remap.shuffled_mean,
        "memory_units_analysed": len(slots),
        "memory_spatial_information_median": float(np.nanmedian(info)),
        "memory_spatial_information_mean": float(np.nanmean(info)),
        "memory_remapping_mean_r": mem_remap.mean,
        "memory_remapping_shuffled_r": mem_remap.shuffled_mean,
    }
    return {"metrics": metrics, "position_image": image, "gridness": grid_scores,
            "memory_maps": mem_maps[0], "memory_information": info,
            "position_remap": pos_remap.correlations, "memory_remap": mem_remap.correlations,
            "memory_kind": memory_kind}


def run_evaluate(config: EvaluateConfig, run_dir: Any, *,
                 progress: bool = True) -> dict[str, Any]:
    """Evaluate a checkpoint on fresh worlds; behaviour and representation metrics, figures."""
    from models.seeding import child_seed
    from models.tem_checkpoints import check_world_actions
    from models.tem_relations import RELATIONS, infer_relations
    from models.tem_training import evaluate, load_model
    from models.worlds import parse_world

    config.validate()
    world = parse_world(config.world, seed=child_seed(config.seed, "world"))
    model, ckpt = load_model(config.checkpoint, world_kind=world.kind, device=config.device,
                             expected_type=config.model or None)
    try:
        check_world_actions(ckpt, world, config.world)
    except ValueError as exc:
        raise ValueError(f"checkpoint {exc}") from None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=2, desc="tem evaluate", unit="stage", leave=False)
    start = time.perf_counter()
    ev = evaluate(model, world, n_worlds=config.n_worlds, steps=config.steps or None,
                  repeat_bias=config.repeat_bias, seed=config.seed)
    if bar is not None:
        bar.update(1)
    metrics: dict[str, Any] = {"model": ckpt.model_type, "checkpoint": str(ckpt.path),
                               "world": config.world, "trained_steps": ckpt.step,
                               "walk_steps": int(ev.correct.shape[1])}
    metrics.update(ev.metrics())
    run_dir.save_figure(_curve_figure(ev, config.world, ckpt.model_type), "fraction_correct")
    # relations never experienced directly: TEM-t imagines them from the position code it
    # stored at each step; TEM's state keeps only its Hebbian matrix (no imagine()): skipped
    if world.kind in RELATIONS and hasattr(model, "imagine"):
        relations = infer_relations(model, world, n_worlds=config.n_worlds,
                                    repeat_bias=config.repeat_bias,
                                    action_names=ckpt.action_names, seed=config.seed)
        metrics.update(relations.metrics())
        run_dir.save_figure(_relations_figure(relations, config.world, ckpt.model_type),
                            "relations")
    if ckpt.model_type == "tem":  # drift against read-out, on the same walks
        from models.tem_diagnosis import diagnose_tem

        diagnosis = diagnose_tem(model, world, n_worlds=config.n_worlds,
                                 steps=config.steps or None, repeat_bias=config.repeat_bias,
                                 seed=config.seed).metrics()
        metrics.update({f"diagnosis_{k}": v for k, v in diagnosis.items()
                        if k != "accuracy_visited"})
    analysis = spatial_analysis(model, world, analysis_worlds=config.analysis_worlds,
                                steps_per_node=config.analysis_steps_per_node,
                                memory_neurons=config.memory_neurons,
                                gridness_threshold=config.gridness_threshold,
                                repeat_bias=config.repeat_bias, seed=config.seed)
    if bar is not None:
        bar.update(1)
        bar.close()
    metrics.update(analysis["metrics"])
    metrics["gridness_threshold"] = config.gridness_threshold
    _analysis_figures(run_dir, analysis, config, ckpt.model_type)
    metrics["evaluate_time_s"] = round(time.perf_counter() - start, 3)
    return metrics


def _relations_figure(relations: Any, world: str, model_type: str) -> Any:
    """Accuracy per relation and against the fraction of the world seen, with both agents."""
    import matplotlib.pyplot as plt
    import numpy as np

    from models.tem_relations import relations_of

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8),
                                 gridspec_kw={"width_ratios": [2, 1]})
    names = [n for n in relations_of(relations.world) if (relations.relation == n).any()]
    x = np.arange(len(names))
    for offset, (label, values, style) in enumerate([
            (model_type.upper(), relations.correct, "tab:blue"),
            ("edge agent (chained)", relations.edge_agent, "0.6"),
            ("node agent", relations.node_agent, "k")]):
        means = [float(values[relations.relation == n].mean()) for n in names]
        ax.bar(x + (offset - 1) * 0.27, means, 0.27, color=style, label=label)
    ax.set_xticks(x, [n.replace("_", " ") for n in names], rotation=60, ha="right",
                  fontsize=7)
    ax.set(ylabel="fraction correct", ylim=(0, 1.05),
           title=f"{world}: relations never taken from the start node "
                 f"({relations.correct.size} queries)")
    ax.legend(fontsize=7)
    curve = relations.by_fraction_visited()
    ok = curve["count"] > 0
    bx.plot(curve["fraction_visited"][ok], curve["model"][ok], "o-", label=model_type.upper())
    bx.plot(curve["fraction_visited"][ok], curve["edge_agent"][ok], ":", color="grey",
            label="edge agent (chained)")
    bx.plot(curve["fraction_visited"][ok], curve["node_agent"][ok], "k--", label="node agent")
    bx.set(xlabel="fraction of nodes visited", ylabel="fraction correct", ylim=(0, 1.05),
           xlim=(0, 1))
    bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _curve_figure(ev: Any, world: str, model_type: str) -> Any:
    import matplotlib.pyplot as plt
    import numpy as np

    curve = ev.curve()
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    x = curve["fraction_visited"]
    ok = curve["count"] > 0
    ax.plot(x[ok], curve["node_agent"][ok], "k--", label="node agent")
    ax.plot(x[ok], curve["edge_agent"][ok], ":", color="grey", label="edge agent")
    ax.plot(x[ok], curve["model"][ok], "o-", ms=3, label=model_type.upper())
    ax.axvline(0.5, color="0.85", lw=0.8, zorder=0)
    ax.set(xlabel="fraction of nodes visited", ylabel="fraction correct", ylim=(0, 1.02),
           xlim=(0, 1), title=f"{world}: {ev.correct.shape[0]} fresh worlds")
    ax.legend(loc="lower right", fontsize=8)
    del np
    return fig


def _analysis_figures(run_dir: Any, analysis: dict[str, Any], config: EvaluateConfig,
                      model_type: str) -> None:
    import matplotlib.pyplot as plt
    import numpy as np

    image, scores = analysis["position_image"], analysis["gridness"]
    order = np.argsort(-np.nan_to_num(scores, nan=-9.0))[:16]
    fig, axes = plt.subplots(4, 4, figsize=(8, 8))
    for ax, u in zip(axes.ravel(), order, strict=False):
        ax.imshow(image.rate[u], origin="lower", extent=image.extent, cmap="viridis")
        ax.set_title(f"unit {u}: G={scores[u]:.2f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[len(order):]:
        ax.axis("off")
    unit = "e" if model_type == "tem-t" else "g"
    fig.suptitle(f"{model_type}: position units ({unit}) on {config.world}, highest gridness")
    run_dir.save_figure(fig, "rate_maps_position")

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    finite = scores[np.isfinite(scores)]
    ax.hist(finite, bins=np.linspace(-1.5, 2.0, 36), color="C0")
    ax.axvline(config.gridness_threshold, color="k", ls="--", lw=0.8)
    ax.set(xlabel="gridness", ylabel="position units",
           title=f"{len(finite)} units, {np.mean(finite > config.gridness_threshold):.0%} "
                 f"> {config.gridness_threshold}" if finite.size else "no finite score")
    run_dir.save_figure(fig, "gridness_histogram")

    from analysis.spatial import rasterise_nodes
    from models.worlds import parse_world

    world = parse_world(config.world, seed=0)
    maps = analysis["memory_maps"]
    info = analysis["memory_information"][:maps.shape[0]]
    best = np.argsort(-np.nan_to_num(info, nan=-1.0))[:16]
    raster = rasterise_nodes(maps[best], world.positions)
    fig, axes = plt.subplots(4, 4, figsize=(8, 8))
    for ax, k, m in zip(axes.ravel(), best, raster.rate, strict=False):
        ax.imshow(m, origin="lower", extent=raster.extent, cmap="magma")
        ax.set_title(f"#{k}: {info[k]:.2f} bits", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[len(best):]:
        ax.axis("off")
    fig.suptitle(f"{model_type}: {analysis['memory_kind']} on {config.world}, "
                 "highest spatial information")
    run_dir.save_figure(fig, "rate_maps_memory")

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    bins = np.linspace(-1, 1, 41)
    for key, label in (("position_remap", "position units"),
                       ("memory_remap", analysis["memory_kind"])):
        r = analysis[key]
        ax.hist(r[np.isfinite(r)], bins=bins, alpha=0.6, label=label)
    ax.set(xlabel="rate-map correlation, world A vs world B", ylabel="units",
           title="remapping across worlds")
    ax.legend(fontsize=8)
    run_dir.save_figure(fig, "remapping")


def summarize_evaluate(metrics: dict[str, Any]) -> str:
    """Lines printed after ``tem evaluate``."""
    return (f"tem evaluate ({metrics['model']}, {metrics['world']}, "
            f"{metrics['walk_steps']} steps per walk):\n"
            f"accuracy_visited {metrics['accuracy_visited']:.3f}, accuracy_link_inference "
            f"{metrics['accuracy_link_inference']:.3f} (edge agent "
            f"{metrics['edge_agent_link_inference']:.3f}), max gap to the node agent after "
            f"half visited {metrics['max_gap_to_node_agent_after_half']:.3f}\n"
            f"position units with gridness > {metrics['gridness_threshold']}: "
            f"{metrics['position_gridness_fraction']:.2f} (node-shuffled control "
            f"{metrics['position_gridness_fraction_shuffled']:.2f}); memory spatial information "
            f"(median) {metrics['memory_spatial_information_median']:.2f} bits; remapping r: "
            f"position {metrics['position_remapping_mean_r']:.2f}, memory "
            f"{metrics['memory_remapping_mean_r']:.2f}"
            + (f"\nTEM's errors on revisits: predicted from the code stored at the node's "
               f"last visit (no drift) {metrics['diagnosis_accuracy_visited_stored_position']:.3f}"
               f"; the stored code nearest the path-integrated one is the node's "
               f"{metrics['diagnosis_path_integrated_nearest_node']:.3f}, nearest the "
               f"memory-inferred one {metrics['diagnosis_memory_inferred_nearest_node']:.3f}; "
               f"trust in memory {metrics['diagnosis_memory_trust']:.3f}"
               if "diagnosis_memory_trust" in metrics else "")
            + (f"\nrelations never taken from the start node ({metrics['relation_queries']} "
               f"queries): accuracy {metrics['accuracy_relations']:.3f} (node agent "
               f"{metrics['node_agent_relations']:.3f}, chained edge agent "
               f"{metrics['edge_agent_relations']:.3f}); on the "
               f"{metrics['relation_queries_unchained']} the edge agent cannot chain "
               f"{metrics['accuracy_relations_unchained']:.3f}"
               if metrics.get("relation_queries") else ""))


# ------------------------------------------------------------------------------ CLI
def add_arguments(tem: argparse.ArgumentParser) -> None:
    """Add the actions ``train``, ``evaluate`` and ``compare`` to ``memcircuits tem``.

    The command hook of :data:`mapping.experiments.ACTION_COMMANDS`.
    """
    from mapping.arguments import add_out_options

    tem.description = ("Train and evaluate the Tolman-Eichenbaum Machine (TEM, Hebbian "
                       "memory) and TEM-t (softmax memory).")
    which = tem.add_subparsers(dest="tem_command", metavar="ACTION", required=True)
    train = which.add_parser("train", help="train a model (resumes if DIR has a checkpoint)",
                             description="Train TEM-t or TEM across many worlds with "
                                         "truncated backprop; resumes from DIR/checkpoint.pt.")
    train.add_argument("--model", choices=("tem-t", "tem"), help="model (default tem-t)")
    train.add_argument("--config", metavar="FILE.toml", type=Path,
                       help="TOML file of TrainConfig values (unknown keys are refused)")
    train.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                       dest="overrides", help="override one parameter, e.g. steps=2000 or "
                                              "tem_t.d_position=32 (repeatable)")
    train.add_argument("--seed", type=int, help="random seed")
    train.add_argument("--device", help="torch device (cpu, cuda)")
    add_out_options(train, text="run directory (checkpoint.pt, config.json, metrics.json); "
                                "a training run there is resumed")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    ev = which.add_parser("evaluate", help="evaluate a checkpoint on fresh worlds",
                          description="Accuracy vs node/edge agents, rate maps, gridness, "
                                      "spatial information and remapping on fresh worlds.")
    ev.add_argument("--checkpoint", metavar="PATH|NAME", default=None,
                    help="checkpoint file or run directory, or a shipped checkpoint: "
                         "'default' (the default: the pretrained TEM-t for the world's "
                         "kind; with --model tem the pretrained TEM, square worlds), "
                         "'cyclic' (ring grid modules, square worlds), 'torus' "
                         "(toroidal grid modules, hexagonal worlds)")
    ev.add_argument("--model", choices=("tem-t", "tem"),
                    help="the model the checkpoint must hold (default: either)")
    ev.add_argument("--world", help="world structure, e.g. square:8x8, square:10x10, hex:8x8")
    _add_run_options(ev, "EvaluateConfig")
    cmp = which.add_parser("compare", help="TEM against TEM-t: learning curves, fresh worlds",
                           description="Both models on the same fresh worlds and walks "
                                       "(accuracy on revisits, link inference, against the "
                                       "fraction of nodes visited), and both learning "
                                       "curves on one figure.")
    cmp.add_argument("--tem", metavar="PATH|NAME", default=None,
                     help="TEM checkpoint file or run directory, or 'default' (the shipped "
                          "one, the default)")
    cmp.add_argument("--tem-t", metavar="PATH|NAME", default=None, dest="tem_t",
                     help="TEM-t checkpoint file or run directory, or a shipped name "
                          "('default', the default)")
    cmp.add_argument("--world", action="append", default=None, dest="worlds",
                     help="world structure (repeatable; default square:8x8 and square:10x10)")
    _add_run_options(cmp, "CompareConfig")


def _add_run_options(parser: argparse.ArgumentParser, config_name: str) -> None:
    """Add the options ``tem evaluate`` and ``tem compare`` share.

    Config file, overrides, seed, device, run directory, quiet.
    """
    from mapping.arguments import add_out_options

    parser.add_argument("--config", metavar="FILE.toml", type=Path,
                        help=f"TOML file of {config_name} values")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                        dest="overrides", help="override one parameter (repeatable)")
    parser.add_argument("--seed", type=int, help="seed of the fresh worlds and walks")
    parser.add_argument("--device", help="torch device (cpu, cuda)")
    add_out_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_command(args: argparse.Namespace) -> dict[str, Any]:
    """Run ``memcircuits tem train|evaluate|compare`` from parsed arguments; print a summary.

    The command hook of :data:`mapping.experiments.ACTION_COMMANDS`.
    """
    from mapping.runner import torch_threads
    from models.config import load_config

    if args.tem_command == "train":
        config = load_train_config(args.config, args.overrides, model=args.model,
                                   seed=args.seed, device=args.device)
        try:
            with torch_threads(config.num_threads):
                metrics = run_train(config, args.out, progress=not args.quiet,
                                    overwrite=args.overwrite)
        except KeyboardInterrupt:
            from models.tem_training import load_checkpoint

            ckpt = Path(args.out) / "checkpoint.pt"
            where = (f"the last checkpoint is at step {load_checkpoint(ckpt).step}"
                     if ckpt.exists() else "no checkpoint was written yet")
            print(f"memcircuits: interrupted; {where}; run the same command to resume",
                  file=sys.stderr)
            raise SystemExit(130) from None
        print(summarize_train(metrics))
        print(f"results: {Path(args.out).resolve()}")
        return metrics
    if args.tem_command == "compare":
        return _run_compare(args)
    overrides = list(args.overrides)
    if args.checkpoint is not None:
        overrides.append(f"checkpoint={_quote(str(args.checkpoint))}")
    if args.world is not None:
        overrides.append(f"world={_quote(args.world)}")
    if args.model is not None:
        overrides.append(f"model={_quote(args.model)}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.device is not None:
        overrides.append(f"device={_quote(args.device)}")
    config = load_config(EvaluateConfig, args.config, overrides)
    return _run_in_directory(args, config, "tem evaluate", run_evaluate, summarize_evaluate)


def _run_in_directory(args: argparse.Namespace, config: Any, run: str, runner: Any,
                      summary: Any) -> dict[str, Any]:
    """Run ``runner(config, run_dir, progress=...)`` in the claimed ``--out``.

    Writes the config, runs with the config's torch threads, writes and prints the metrics.
    """
    from mapping.runner import torch_threads
    from models.config import to_dict
    from models.rundir import claim_run_directory

    mode = "overwrite" if args.overwrite else "new"
    with claim_run_directory(args.out, run=run, mode=mode) as run_dir:
        run_dir.write_config(to_dict(config), seed=config.seed)
        with torch_threads(config.num_threads):
            metrics = runner(config, run_dir, progress=not args.quiet)
        run_dir.write_metrics(metrics)
    print(summary(metrics))
    print(f"results: {run_dir.path.resolve()}")
    return metrics



def _run_compare(args: argparse.Namespace) -> dict[str, Any]:
    from mapping.tem_comparison import CompareConfig, run_compare, summarize_compare
    from models.config import load_config

    overrides = list(args.overrides)
    for name in ("tem", "tem_t"):
        if getattr(args, name) is not None:
            overrides.append(f"{name}={_quote(str(getattr(args, name)))}")
    if args.worlds is not None:
        overrides.append("worlds=[" + ", ".join(_quote(w) for w in args.worlds) + "]")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.device is not None:
        overrides.append(f"device={_quote(args.device)}")
    config = load_config(CompareConfig, args.config, overrides)
    return _run_in_directory(args, config, "tem compare", run_compare,
                             lambda metrics: summarize_compare(metrics, config))
