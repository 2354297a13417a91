r"""TEM against TEM-t: the same fresh worlds, the same walks, and both learning curves.

``memcircuits tem compare`` loads a TEM checkpoint (Hebbian memory, attractor retrieval) and a
TEM-t checkpoint (softmax memory) and measures them side by side:

1. **Learning curves.** Each checkpoint carries the history of its training run: for every
   episode (one batch of walks on worlds with fresh symbols), the fraction of correct
   predictions at steps whose node had been visited before (``accuracy_visited``, training
   walks). Both curves go on one figure against the optimiser step, as a running mean over
   ``smooth_episodes`` episodes. Runs of ``memcircuits tem train`` that differ only in
   ``--model`` see the very same walks (episodes are drawn from the seed, not the model);
   ``trained_on_same_worlds`` says whether the two runs share worlds and seed.
2. **Fresh worlds** (:func:`models.tem_evaluation.evaluate`): for every world of
   ``worlds`` both models walk the same ``n_worlds`` fresh worlds with the same walks (same
   seed); ``<model>_<world>_accuracy_visited`` (revisits), ``..._accuracy_link_inference``
   (revisits through an edge never taken) next to the node and edge agents, and the
   accuracy against the fraction of nodes visited.

Outputs: ``metrics.json``, ``learning_curves.csv``, ``fraction_curves.csv`` and the figure
``learning_curves`` (training curves, then one panel per world).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

__all__ = ["CompareConfig", "run_compare", "summarize_compare"]

MODELS = ("tem", "tem-t")  # the order of the panels and metrics


@dataclass(frozen=True)
class CompareConfig:
    """``memcircuits tem compare``: the two checkpoints and the fresh worlds."""

    tem: str = "default"  # TEM checkpoint: path, run directory or shipped name
    tem_t: str = "default"  # TEM-t checkpoint: path, run directory or shipped name
    worlds: tuple[str, ...] = ("square:8x8", "square:10x10")  # fresh-world structures
    n_worlds: int = 16  # fresh worlds (walks) per structure, the same for both models
    steps: int = 0  # walk length (0: 6 steps per node)
    repeat_bias: float = 0.25  # bias of the walks to repeat the last action
    smooth_episodes: int = 10  # running mean of the training curves, in episodes
    device: str = "cpu"  # torch device
    seed: int = 0  # seed of the fresh worlds and walks
    num_threads: int = 1  # torch CPU threads

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        from models._checks import check_device, check_int, check_real
        from models.worlds import check_world_specs, walk_world

        for name in ("tem", "tem_t"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} must be a checkpoint path or a shipped name such as "
                                 f"'default'")
        for k, spec in enumerate(check_world_specs("worlds", self.worlds)):
            walk_world(spec, field=f"worlds[{k}]")
        check_int("n_worlds", self.n_worlds, minimum=1)
        check_int("steps", self.steps, minimum=0)
        check_real("repeat_bias", self.repeat_bias, minimum=0.0, maximum=1.0)
        check_int("smooth_episodes", self.smooth_episodes, minimum=1)
        check_device("device", self.device)
        check_int("seed", self.seed, minimum=0)
        check_int("num_threads", self.num_threads, minimum=0)

    def checkpoint(self, model: str) -> str:
        """The checkpoint field of ``model`` (``"tem"`` or ``"tem-t"``)."""
        return self.tem if model == "tem" else self.tem_t


def _tag(spec: str) -> str:
    """``square:8x8`` -> ``square_8x8`` (metric-name safe)."""
    return "".join(ch if ch.isalnum() else "_" for ch in spec)


def _running_mean(values: Any, width: int) -> Any:
    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    lo = np.maximum(np.arange(1, values.size + 1) - width, 0)
    return (cumulative[1:] - cumulative[lo]) / (np.arange(1, values.size + 1) - lo)


def run_compare(config: CompareConfig, run_dir: Any, *, progress: bool = True) -> dict[str, Any]:
    """Evaluate both checkpoints on the same fresh worlds; learning curves; figure.

    Raises
    ------
    ValueError
        A checkpoint of the other model, a shipped name with no file for the worlds' kind,
        or a world whose actions the checkpoints were not trained with.
    """
    import numpy as np

    from models.rundir import atomic_write_csv
    from models.seeding import child_seed
    from models.tem_checkpoints import check_world_actions
    from models.tem_training import evaluate, load_model
    from models.worlds import parse_world

    config.validate()
    worlds = [parse_world(spec, seed=child_seed(config.seed, "world")) for spec in config.worlds]
    loaded = {}
    for model_type in MODELS:
        field = "tem" if model_type == "tem" else "tem_t"
        try:
            loaded[model_type] = load_model(config.checkpoint(model_type),
                                            expected_type=model_type,
                                            world_kind=worlds[0].kind, device=config.device)
        except (ValueError, FileNotFoundError) as exc:
            raise ValueError(f"{field}: {exc}") from None
        ckpt = loaded[model_type][1]
        for spec, world in zip(config.worlds, worlds, strict=True):
            try:
                check_world_actions(ckpt, world, spec)
            except ValueError as exc:
                raise ValueError(f"{field}: {exc}") from None
    start = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(worlds) * len(MODELS), desc="tem compare", unit="run",
                   leave=False)
    tem_train, tem_t_train = (loaded[m][1].train_config for m in MODELS)
    metrics: dict[str, Any] = {
        "trained_on_same_worlds": bool(tem_train.get("worlds") == tem_t_train.get("worlds")
                                       and tem_train.get("seed") == tem_t_train.get("seed")),
    }
    curves_rows, fraction_rows, evaluations = [], [], {}
    for model_type in MODELS:
        ckpt = loaded[model_type][1]
        key = model_type.replace("-", "_")
        metrics[f"{key}_checkpoint"] = str(ckpt.path)
        metrics[f"{key}_trained_steps"] = ckpt.step
        metrics[f"{key}_train_wall_time_s"] = round(float(ckpt.wall_time_s), 1)
        history = ckpt.history
        smooth = _running_mean([h["accuracy_visited"] for h in history],
                               config.smooth_episodes) if history else []
        for h, s in zip(history, smooth, strict=True):
            curves_rows.append({"model": model_type, "step": h["step"],
                                "episode": h["episode"], "loss": h["loss"],
                                "accuracy_visited": h["accuracy_visited"],
                                "accuracy_visited_running_mean": float(s)})
        for at in (1000, 2000, 5000, 10000, 20000, 50000):  # the curve at round step counts
            reached = [s for h, s in zip(history, smooth, strict=True) if h["step"] <= at]
            if reached and history[-1]["step"] >= at:
                metrics[f"{key}_training_accuracy_visited_at_{at}"] = float(reached[-1])
        for spec, world in zip(config.worlds, worlds, strict=True):
            ev = evaluate(loaded[model_type][0], world, n_worlds=config.n_worlds,
                          steps=config.steps or None, repeat_bias=config.repeat_bias,
                          seed=config.seed)
            evaluations[model_type, spec] = ev
            flat = ev.metrics()
            for name in ("accuracy_visited", "accuracy_link_inference",
                         "max_gap_to_node_agent_after_half"):
                metrics[f"{key}_{_tag(spec)}_{name}"] = flat[name]
            if model_type == MODELS[0]:  # the same walks for both models: agents once
                metrics[f"{_tag(spec)}_node_agent_accuracy"] = flat["node_agent_accuracy"]
                metrics[f"{_tag(spec)}_edge_agent_link_inference"] = (
                    flat["edge_agent_link_inference"])
                metrics[f"{_tag(spec)}_walk_steps"] = int(ev.correct.shape[1])
            curve = ev.curve()
            for b in np.flatnonzero(curve["count"] > 0):
                fraction_rows.append({
                    "world": spec, "model": model_type,
                    "fraction_visited": float(curve["fraction_visited"][b]),
                    "count": int(curve["count"][b]), "accuracy": float(curve["model"][b]),
                    "node_agent": float(curve["node_agent"][b]),
                    "edge_agent": float(curve["edge_agent"][b])})
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    atomic_write_csv(run_dir.path / "learning_curves.csv", curves_rows)
    atomic_write_csv(run_dir.path / "fraction_curves.csv", fraction_rows)
    run_dir.save_figure(_figure(curves_rows, evaluations, config), "learning_curves")
    metrics["compare_time_s"] = round(time.perf_counter() - start, 3)
    return metrics


def _figure(curves_rows: list[dict[str, Any]], evaluations: dict[tuple[str, str], Any],
            config: CompareConfig) -> Any:
    import matplotlib.pyplot as plt
    import numpy as np

    colours = {"tem": "tab:orange", "tem-t": "tab:blue"}
    labels = {"tem": "TEM (Hebbian memory)", "tem-t": "TEM-t (softmax memory)"}
    n = 1 + len(config.worlds)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.6))
    ax = axes[0]
    for model_type in MODELS:
        rows = [r for r in curves_rows if r["model"] == model_type]
        if rows:
            ax.plot([r["step"] for r in rows],
                    [r["accuracy_visited_running_mean"] for r in rows],
                    color=colours[model_type], label=labels[model_type])
    ax.set(xlabel="optimiser step", ylabel="fraction correct at visited nodes",
           ylim=(0, 1.02), title="learning curves (training walks)")
    ax.legend(fontsize=8, loc="lower right")
    for ax, spec in zip(axes[1:], config.worlds, strict=True):
        for model_type in MODELS:
            curve = evaluations[model_type, spec].curve()
            ok = curve["count"] > 0
            ax.plot(curve["fraction_visited"][ok], curve["model"][ok], "o-", ms=3,
                    color=colours[model_type], label=labels[model_type].split(" (")[0])
        curve = evaluations[MODELS[0], spec].curve()
        ok = curve["count"] > 0
        ax.plot(curve["fraction_visited"][ok], curve["node_agent"][ok], "k--",
                label="node agent")
        ax.plot(curve["fraction_visited"][ok], curve["edge_agent"][ok], ":", color="grey",
                label="edge agent")
        ax.set(xlabel="fraction of nodes visited", ylabel="fraction correct", xlim=(0, 1),
               ylim=(0, 1.02), title=f"{spec}: {config.n_worlds} fresh worlds")
        ax.legend(fontsize=7, loc="lower right")
    del np
    fig.tight_layout()
    return fig


def summarize_compare(metrics: dict[str, Any], config: CompareConfig) -> str:
    """Lines printed after ``tem compare``."""
    lines = [f"tem compare: TEM {metrics['tem_trained_steps']} steps, TEM-t "
             f"{metrics['tem_t_trained_steps']} steps of training"
             + ("" if metrics["trained_on_same_worlds"] else
                " (the two runs were trained on different worlds or seeds)")]
    for spec in config.worlds:
        t = _tag(spec)
        lines.append(
            f"{spec}: accuracy at visited nodes TEM {metrics[f'tem_{t}_accuracy_visited']:.3f}"
            f", TEM-t {metrics[f'tem_t_{t}_accuracy_visited']:.3f} (node agent "
            f"{metrics[f'{t}_node_agent_accuracy']:.3f} over all steps); link inference TEM "
            f"{metrics[f'tem_{t}_accuracy_link_inference']:.3f}, TEM-t "
            f"{metrics[f'tem_t_{t}_accuracy_link_inference']:.3f} (edge agent "
            f"{metrics[f'{t}_edge_agent_link_inference']:.3f})")
    return "\n".join(lines)
