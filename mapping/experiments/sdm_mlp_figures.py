r"""``memcircuits figures sdm-mlp``: SDM-MLP with the GABA switch vs a ReLU MLP.

On class-incremental learning (Bricken et al., ICLR 2023, "Sparse Distributed Memory is a Continual
Learner").

Protocol
--------
1. **Task.** A synthetic class-incremental task generated in code
   (:class:`models.sdm_mlp.ClassIncrementalTask`): 10 classes of non-negative inputs (a
   mixture of prototypes per class plus noise, then ReLU), split into 5 tasks of 2 classes,
   presented one after the other; one output head over all classes and no task identity at
   test time.
2. **Models** of equal hidden width :math:`r`: the SDM-MLP
   :math:`y = W_\mathrm{out}\,\mathrm{TopK}(\mathrm{ReLU}(W_\mathrm{in}\hat x) - gI)` with
   the GABA switch; the standard ReLU MLP (biases, no normalisation); and, as an ablation,
   the SDM-MLP without the switch (plain Top-k, :math:`g = 1`).
3. **Training.** Plain SGD (no momentum), the same batch size and epochs per task for every
   model. The learning rate of *each* model is chosen from the same grid by its final
   accuracy on a separate selection seed (its own data and initialisation), so no model is
   run at a learning rate that suits only the other.
4. **Evaluation** over ``n_seeds`` seeds (new data, initialisation and shuffling per seed,
   shared by the models): accuracy on every task after each task; final accuracy on all
   classes; forgetting :math:`F = \frac{1}{T-1}\sum_{j<T-1} (\max_t a_{t,j} - a_{T-1,j})`;
   dead neurons (never active in training). Spreads are sample standard deviations
   (``ddof=1``) over seeds.
5. **k sweep** (SDM-MLP with the switch, first three seeds, its selected learning rate):
   the paper finds that small :math:`k` forgets least.

Figures: ``task_accuracy`` (accuracy on each task across the sequence, every model),
``final_accuracy_forgetting`` (bars with mean, spread and seeds; dead neurons), ``k_sweep``
and ``lr_grid`` (the learning-rate selection runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from models._checks import check_bool, check_device, check_int, check_real
from models.rundir import RunDirectory
from models.sdm_mlp import (
    SDMMLP,
    ClassIncrementalTask,
    ContinualResult,
    ReLUMLP,
    make_class_incremental_task,
    train_class_incremental,
)
from models.seeding import child_seed

__all__ = ["MODELS", "Config", "run", "summarize"]

#: model key -> label on the figures
MODELS: dict[str, str] = {
    "sdm_mlp": "SDM-MLP (Top-k + GABA switch)",
    "relu_mlp": "ReLU MLP",
    "sdm_mlp_no_gaba": "SDM-MLP without GABA switch",
}
_COLOURS = {"sdm_mlp": "tab:blue", "relu_mlp": "tab:red", "sdm_mlp_no_gaba": "tab:gray"}


@dataclass(frozen=True)
class Config:
    """Parameters of the SDM-MLP continual-learning experiment."""

    # The synthetic class-incremental task (10 classes, 5 tasks of 2; see its fields).
    task: ClassIncrementalTask = field(default_factory=ClassIncrementalTask)
    hidden: int = 1000                 # r, neurons = ReLU hidden units (Bricken et al.: 1000)
    k: int = 10                        # active neurons per input (Bricken et al.: 10)
    switch_activations: float = 1000.0  # T, activity count at which g_i reaches +1
    exact_k: bool = True               # hard Top-k after the GABA shift (see topk_gaba)
    epochs: int = 5                    # passes over each task's training data
    batch_size: int = 32               # minibatch size (SGD, no momentum)
    lr_grid: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)  # SGD learning rates tried
    n_seeds: int = 5                   # evaluation seeds (>= 3)
    k_sweep: tuple[int, ...] = (1, 3, 10, 30, 100)  # k values for the sweep (empty: none)
    ablation: bool = True              # also run the SDM-MLP without the GABA switch
    device: str = "cpu"                # torch device ("cpu", "cuda", "cuda:1", ...)
    num_threads: int = 1               # torch CPU threads (applied by the CLI; 0: torch default)
    seed: int = 0                      # master seed (selection and evaluation seeds derive)

    def validate(self) -> None:
        """Raise ValueError/TypeError naming the first bad field."""
        if not isinstance(self.task, ClassIncrementalTask):
            raise TypeError(f"task must be a ClassIncrementalTask, got {self.task!r}")
        self.task.validate()
        hidden = check_int("hidden", self.hidden, minimum=2)
        k = check_int("k", self.k, minimum=1)
        if k >= hidden:
            raise ValueError(f"k must be < hidden={hidden}, got {k}")
        check_real("switch_activations", self.switch_activations, minimum=0.0,
                   strict_minimum=True)
        check_bool("exact_k", self.exact_k)
        check_int("epochs", self.epochs, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        if len(self.lr_grid) == 0:
            raise ValueError("lr_grid must hold at least one learning rate")
        for lr in self.lr_grid:
            check_real("lr_grid", lr, minimum=0.0, strict_minimum=True)
        check_int("n_seeds", self.n_seeds, minimum=3)
        for value in self.k_sweep:
            value = check_int("k_sweep", value, minimum=1)
            if value >= hidden:
                raise ValueError(f"k_sweep values must be < hidden={hidden}, got {value}")
        check_bool("ablation", self.ablation)
        check_device("device", self.device)
        check_int("num_threads", self.num_threads, minimum=0)
        check_int("seed", self.seed, minimum=0)
        self._check_memory()

    def _check_memory(self) -> None:
        """Refuse sizes whose tensors would not fit the memory budget.

        The weights ``hidden x (dim + classes)`` (with gradients and copies), the data set ``samples
        x dim`` and its hidden activations ``samples x hidden`` (float64).
        """
        from models._memory import refuse_over_budget

        task = self.task
        samples = task.n_classes * (task.train_per_class + task.test_per_class)
        terms = {"hidden": 4 * self.hidden * (task.dim + task.n_classes)
                 + 2 * samples * self.hidden,
                 "task.dim": 2 * samples * task.dim}
        name = max(terms, key=terms.__getitem__)
        value = self.hidden if name == "hidden" else task.dim
        refuse_over_budget(name, value, 8 * float(sum(terms.values())),
                           f"{samples} samples of {task.dim} inputs through {self.hidden} "
                           f"hidden units, float64")

    @property
    def model_names(self) -> tuple[str, ...]:
        """The models this configuration runs."""
        names = ("sdm_mlp", "relu_mlp")
        return (*names, "sdm_mlp_no_gaba") if self.ablation else names


def _build(name: str, config: Config, *, k: int, seed: int) -> torch.nn.Module:
    task = config.task
    if name == "relu_mlp":
        return ReLUMLP(task.dim, config.hidden, task.n_classes, seed=seed, device=config.device)
    return SDMMLP(task.dim, config.hidden, task.n_classes, k,
                  switch_activations=config.switch_activations, gaba=name == "sdm_mlp",
                  exact_k=config.exact_k, seed=seed, device=config.device)


def _train(name: str, config: Config, data: Any, *, lr: float, seed: int,
           k: int | None = None) -> ContinualResult:
    model = _build(name, config, k=config.k if k is None else k, seed=child_seed(seed, "init"))
    return train_class_incremental(model, data, epochs=config.epochs, lr=lr,
                                   batch_size=config.batch_size,
                                   seed=child_seed(seed, "shuffle"))


def _std(values: list[float] | np.ndarray) -> float:
    values = np.asarray(values, dtype=float)
    return float(values.std(ddof=1)) if values.size > 1 else 0.0


def run(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> dict[str, Any]:
    """Run the experiment; save figures into ``run_dir``; return the flat metrics."""
    from tqdm.auto import tqdm

    config.validate()
    names = config.model_names
    grid = tuple(float(lr) for lr in config.lr_grid)
    sweep = tuple(k for k in dict.fromkeys(config.k_sweep) if k != config.k)
    n_sweep_seeds = min(3, config.n_seeds)
    total = (len(names) * len(grid) if len(grid) > 1 else 0) \
        + len(names) * config.n_seeds + len(sweep) * n_sweep_seeds
    bar = tqdm(total=total, desc="sdm-mlp", disable=not progress, unit="run")

    # 1. learning rate per model, chosen on a separate selection seed
    select_seed = child_seed(config.seed, "lr_select")
    grid_results: dict[str, dict[float, ContinualResult]] = {n: {} for n in names}
    chosen: dict[str, float] = {}
    if len(grid) > 1:
        select_data = make_class_incremental_task(config.task, seed=select_seed,
                                                  device=config.device)
        for name in names:
            for lr in grid:
                grid_results[name][lr] = _train(name, config, select_data, lr=lr,
                                                seed=select_seed)
                bar.update()
            # best final accuracy; ties go to the smaller learning rate (grid order kept)
            chosen[name] = max(sorted(grid),
                               key=lambda lr, n=name: grid_results[n][lr].final_accuracy)
    else:
        chosen = {name: grid[0] for name in names}

    # 2. evaluation seeds: same data and seeds for every model
    results: dict[str, list[ContinualResult]] = {n: [] for n in names}
    eval_seeds = [child_seed(config.seed, "eval", i) for i in range(config.n_seeds)]
    datasets = []
    for seed in eval_seeds:
        data = make_class_incremental_task(config.task, seed=seed, device=config.device)
        datasets.append(data)
        for name in names:
            results[name].append(_train(name, config, data, lr=chosen[name], seed=seed))
            bar.update()

    # 3. k sweep for the SDM-MLP with the GABA switch
    k_results: dict[int, list[ContinualResult]] = {}
    if config.k_sweep:
        k_results[config.k] = results["sdm_mlp"][:n_sweep_seeds]
        for k in sweep:
            k_results[k] = []
            for seed, data in zip(eval_seeds[:n_sweep_seeds], datasets, strict=False):
                k_results[k].append(_train("sdm_mlp", config, data, lr=chosen["sdm_mlp"],
                                           seed=seed, k=k))
                bar.update()
        k_results = dict(sorted(k_results.items()))
    bar.close()

    metrics = _metrics(config, names, chosen, grid_results, results, k_results)
    _figures(config, names, chosen, grid_results, results, k_results, run_dir)
    return metrics


def _metrics(config: Config, names: tuple[str, ...], chosen: dict[str, float],
             grid_results: dict[str, dict[float, ContinualResult]],
             results: dict[str, list[ContinualResult]],
             k_results: dict[int, list[ContinualResult]]) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        "n_seeds": config.n_seeds, "hidden": config.hidden, "k": config.k,
        "n_tasks": config.task.n_tasks, "epochs_per_task": config.epochs,
        "switch_activations": config.switch_activations,
    }
    for name in names:
        runs = results[name]
        final = [r.final_accuracy for r in runs]
        forget = [r.forgetting for r in runs]
        dead = [r.dead_neurons for r in runs]
        metrics[f"{name}_lr"] = chosen[name]
        metrics[f"{name}_final_accuracy_mean"] = float(np.mean(final))
        metrics[f"{name}_final_accuracy_std"] = _std(final)
        metrics[f"{name}_forgetting_mean"] = float(np.mean(forget))
        metrics[f"{name}_forgetting_std"] = _std(forget)
        metrics[f"{name}_dead_neurons_mean"] = float(np.mean(dead))
        metrics[f"{name}_dead_neurons_max"] = int(np.max(dead))
        metrics[f"{name}_train_seconds_mean"] = float(np.mean([r.train_seconds for r in runs]))
        last = np.stack([r.accuracy[-1] for r in runs])  # (seeds, tasks)
        for j, value in enumerate(last.mean(axis=0)):
            metrics[f"{name}_task{j}_final_accuracy_mean"] = float(value)
        for i, run in enumerate(runs):
            metrics[f"{name}_seed{i}_final_accuracy"] = run.final_accuracy
            metrics[f"{name}_seed{i}_forgetting"] = run.forgetting
        for lr, run in grid_results[name].items():
            metrics[f"lr_grid_{name}_lr{lr:g}_final_accuracy"] = run.final_accuracy
            metrics[f"lr_grid_{name}_lr{lr:g}_forgetting"] = run.forgetting
    sdm = np.array([r.forgetting for r in results["sdm_mlp"]])
    relu = np.array([r.forgetting for r in results["relu_mlp"]])
    metrics["forgetting_gap_mean"] = float(np.mean(relu - sdm))
    metrics["forgetting_gap_std"] = _std(relu - sdm)
    metrics["sdm_mlp_forgets_less_every_seed"] = bool(np.all(sdm < relu))
    metrics["sdm_mlp_forgets_less"] = bool(sdm.mean() + _std(sdm) < relu.mean() - _std(relu))
    for k, runs in k_results.items():
        final = [r.final_accuracy for r in runs]
        forget = [r.forgetting for r in runs]
        metrics[f"k_sweep_k{k}_final_accuracy_mean"] = float(np.mean(final))
        metrics[f"k_sweep_k{k}_final_accuracy_std"] = _std(final)
        metrics[f"k_sweep_k{k}_forgetting_mean"] = float(np.mean(forget))
        metrics[f"k_sweep_k{k}_forgetting_std"] = _std(forget)
        metrics[f"k_sweep_k{k}_dead_neurons_mean"] = float(np.mean([r.dead_neurons
                                                                      for r in runs]))
    return metrics


def _figures(config: Config, names: tuple[str, ...], chosen: dict[str, float],
             grid_results: dict[str, dict[float, ContinualResult]],
             results: dict[str, list[ContinualResult]],
             k_results: dict[int, list[ContinualResult]], run_dir: RunDirectory) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    n_tasks = config.task.n_tasks
    stages = np.arange(1, n_tasks + 1)
    cmap = plt.get_cmap("viridis")

    # accuracy on each task across the sequence of tasks
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 3.8), sharey=True,
                             squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        acc = np.stack([r.accuracy for r in results[name]])  # (seeds, stage, task)
        seen = np.stack([r.seen_accuracy for r in results[name]])  # (seeds, stage)
        for j in range(n_tasks):
            mean = acc[:, j:, j].mean(axis=0)
            spread = acc[:, j:, j].std(axis=0, ddof=1) if acc.shape[0] > 1 else 0 * mean
            colour = cmap(j / max(1, n_tasks - 1))
            classes = ",".join(str(c) for c in range(j * config.task.classes_per_task,
                                                     (j + 1) * config.task.classes_per_task))
            ax.plot(stages[j:], mean, "o-", color=colour, ms=3, label=f"task {j + 1} ({classes})")
            ax.fill_between(stages[j:], mean - spread, mean + spread, color=colour, alpha=0.2)
        ax.plot(stages, seen.mean(axis=0), "k--", lw=2, label="all classes seen so far")
        ax.set_title(f"{MODELS[name]}\nlr={chosen[name]:g}", fontsize=9)
        ax.set_xlabel("after training on task")
        ax.set_xticks(stages)
        ax.set_ylim(-0.03, 1.03)
    axes[0, 0].set_ylabel(f"test accuracy (mean ± sd, {config.n_seeds} seeds)")
    axes[0, -1].legend(fontsize=7, loc="lower left")
    fig.suptitle("Class-incremental learning: accuracy on each task across the sequence")
    fig.tight_layout()
    run_dir.save_figure(fig, "task_accuracy")

    # bars: final accuracy, forgetting, dead neurons
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    quantities = (("final_accuracy", "final accuracy (all classes)"),
                  ("forgetting", "forgetting (max - final, mean over tasks)"),
                  ("dead_neurons", "dead neurons (never active in training)"))
    rng = np.random.default_rng(0)  # jitter of the seed dots only
    for ax, (attr, title) in zip(axes, quantities, strict=True):
        for i, name in enumerate(names):
            values = np.array([getattr(r, attr) for r in results[name]], dtype=float)
            ax.bar(i, values.mean(), yerr=_std(values), color=_COLOURS[name], alpha=0.75,
                   capsize=4)
            ax.scatter(i + rng.uniform(-0.15, 0.15, values.size), values, color="k", s=10,
                       zorder=3)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([MODELS[n].replace(" (", "\n(").replace(" without", "\nwithout")
                            for n in names], fontsize=7)
        ax.set_title(title, fontsize=9)
    axes[0].set_ylim(0, 1)
    axes[1].set_ylim(0, 1)
    fig.suptitle(f"Mean ± sd over {config.n_seeds} seeds (dots: seeds); hidden width "
                 f"{config.hidden}, k={config.k}")
    fig.tight_layout()
    run_dir.save_figure(fig, "final_accuracy_forgetting")

    # k sweep
    if k_results:
        ks = np.array(list(k_results))
        fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
        for ax, attr, title in ((axes[0], "final_accuracy", "final accuracy"),
                                (axes[1], "forgetting", "forgetting")):
            values = [np.array([getattr(r, attr) for r in k_results[k]]) for k in ks]
            ax.errorbar(ks, [v.mean() for v in values], yerr=[_std(v) for v in values],
                        fmt="o-", color=_COLOURS["sdm_mlp"], capsize=3)
            ax.set_xscale("log")
            ax.set_xticks(ks, [str(k) for k in ks])
            ax.minorticks_off()
            ax.set_xlabel("k (active neurons)")
            ax.set_title(title)
            ax.set_ylim(0, 1)
        n = len(next(iter(k_results.values())))
        fig.suptitle(f"SDM-MLP with GABA switch: k sweep ({n} seeds, lr={chosen['sdm_mlp']:g})")
        fig.tight_layout()
        run_dir.save_figure(fig, "k_sweep")

    # learning-rate selection
    if any(grid_results[n] for n in names):
        fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
        for name in names:
            lrs = np.array(sorted(grid_results[name]))
            for ax, attr in ((axes[0], "final_accuracy"), (axes[1], "forgetting")):
                ax.plot(lrs, [getattr(grid_results[name][lr], attr) for lr in lrs], "o-",
                        color=_COLOURS[name], label=MODELS[name])
        for ax, title in zip(axes, ("final accuracy", "forgetting"), strict=True):
            ax.set_xscale("log")
            ax.set_xlabel("SGD learning rate")
            ax.set_title(title)
            ax.set_ylim(0, 1)
        axes[1].legend(fontsize=7, loc="center left")
        fig.suptitle("Learning-rate selection (one selection seed; best final accuracy kept)")
        fig.tight_layout()
        run_dir.save_figure(fig, "lr_grid")


def summarize(metrics: dict[str, Any]) -> str:
    """A few lines: final accuracy and forgetting of each model, mean ± sd over seeds."""
    lines = [f"SDM-MLP vs ReLU MLP, class-incremental ({metrics['n_tasks']} tasks, "
             f"{metrics['n_seeds']} seeds, hidden {metrics['hidden']}, k={metrics['k']})"]
    for name, label in MODELS.items():
        if f"{name}_final_accuracy_mean" not in metrics:
            continue
        lines.append(
            f"  {label:30s} lr={metrics[f'{name}_lr']:<5g} final accuracy "
            f"{metrics[f'{name}_final_accuracy_mean']:.3f} ± "
            f"{metrics[f'{name}_final_accuracy_std']:.3f}, forgetting "
            f"{metrics[f'{name}_forgetting_mean']:.3f} ± {metrics[f'{name}_forgetting_std']:.3f}"
            f", dead neurons {metrics[f'{name}_dead_neurons_mean']:.1f}")
    verdict = "yes" if metrics["sdm_mlp_forgets_less_every_seed"] else "NO"
    lines.append(f"  SDM-MLP forgets less than the ReLU MLP on every seed: {verdict} "
                 f"(gap {metrics['forgetting_gap_mean']:.3f} ± "
                 f"{metrics['forgetting_gap_std']:.3f})")
    return "\n".join(lines)
