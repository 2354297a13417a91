r"""The training loop of TEM and TEM-t: episodes of walks on fresh worlds, windows, resume.

The protocol is described in :mod:`models.tem_training`.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models._checks import check_bool, check_device
from models.config import to_dict
from models.seeding import child_seed, numpy_rng
from models.tem import WalkModel
from models.tem_checkpoints import (
    CHECKPOINT_NAME,
    Checkpoint,
    _payload,
    _save_checkpoint,
    load_checkpoint,
)
from models.tem_train_config import TrainConfig, build_model
from models.worlds import (
    World,
    batch_walks,
    parse_world,
)

__all__ = [
    "TrainResult",
    "changes_on_resume",
    "check_resume",
    "episode_batch",
    "train",
    "visited_mask",
]


def visited_mask(nodes: torch.Tensor | np.ndarray) -> np.ndarray:
    """``(B, T)`` bool: whether ``nodes[b, t+1]`` is among ``nodes[b, :t+1]``."""
    nodes = np.asarray(nodes.cpu() if isinstance(nodes, torch.Tensor) else nodes)
    out = np.zeros((nodes.shape[0], nodes.shape[1] - 1), dtype=bool)
    steps = np.arange(nodes.shape[1])
    for b, row in enumerate(nodes):
        _, first_index, inverse = np.unique(row, return_index=True, return_inverse=True)
        first = first_index[inverse]  # first visit of the node at each step
        out[b] = first[1:] < steps[1:]
    return out


def episode_batch(config: TrainConfig, episode: int,
                  structures: Sequence[World] | None = None) -> dict[str, torch.Tensor]:
    """The walks of training episode ``episode`` (deterministic in ``config.seed``).

    Returns ``batch_walks``'s dict (``actions`` (B, T), ``observations`` (B, T+1),
    ``nodes`` (B, T+1)) on ``config.device``.
    """
    if structures is None:
        structures = [parse_world(spec, seed=0) for spec in config.worlds]
    rng = numpy_rng(config.seed, "episode", episode)
    lo, hi = config.walk_lengths()
    length = int(rng.integers(lo // config.window, hi // config.window + 1)) * config.window
    picks = rng.integers(len(structures), size=config.batch_size)
    worlds = [structures[int(i)].with_observations(child_seed(config.seed, "episode", episode,
                                                              "symbols", b))
              for b, i in enumerate(picks)]
    return batch_walks(worlds, length, repeat_bias=config.repeat_bias,
                       seed=child_seed(config.seed, "episode", episode, "walks"),
                       device=config.device)


@dataclass
class TrainResult:
    """Outcome of :func:`train`."""

    model: WalkModel
    step: int
    episode: int
    wall_time_s: float
    history: list[dict[str, float]]
    checkpoint: Path
    resumed_from: int  # step of the checkpoint resumed from (0: fresh start)
    #: this call's changes to the resumed run (:func:`changes_on_resume`; empty: none)
    changes_on_resume: list[dict[str, Any]] = field(default_factory=list)


def _check_finite(what: str, value: torch.Tensor, terms: dict[str, float], step: int,
                  episode: int, path: Path, saved_step: int | None) -> None:
    """Stop training when a loss, a gradient norm or the parameters stop being finite.

    Raises
    ------
    FloatingPointError
        Naming the step, the episode, the non-finite loss terms and what the run directory
        holds to resume from (:func:`_kept`, built only then; nothing of the failing episode
        is written).
    """
    if bool(torch.isfinite(value).all()):
        return
    bad = [k for k, v in terms.items() if not math.isfinite(v)]
    where = f" (non-finite terms: {', '.join(bad)})" if bad else ""
    shown = f" is {float(value.detach())}" if value.numel() == 1 else " are not finite"
    raise FloatingPointError(
        f"training diverged at step {step + 1} (episode {episode}): the {what}{shown}{where}; "
        f"{_kept(path, saved_step)}; resume with a lower lr or grad_clip (they may change "
        f"when a run is resumed)")


def _kept(path: Path, saved_step: int | None) -> str:
    """What a diverged run directory still holds (for :func:`_check_finite`'s message)."""
    if saved_step is None:
        return "no checkpoint had been written yet"
    previous = path.with_name(PREVIOUS_CHECKPOINT_NAME)
    before = (f"; if that diverges again, {previous.name} is the checkpoint before it (move "
              f"it to {path.name})" if previous.exists() else "")
    return f"{path} holds step {saved_step}, written before the divergence{before}"


def _save_keeping_previous(path: Path, payload: dict[str, Any]) -> None:
    """Write ``path`` atomically, first copying the checkpoint it replaces to the previous one.

    A step can blow the parameters up while they stay finite, so the checkpoint written
    just before a divergence may already be on the way there; the one before it is kept.
    """
    if path.exists():
        previous = path.with_name(PREVIOUS_CHECKPOINT_NAME)
        partial = previous.with_name(previous.name + ".partial")
        shutil.copyfile(path, partial)
        os.replace(partial, previous)
    _save_checkpoint(path, payload)


def _learning_rate(config: TrainConfig, step: int) -> float:
    decayed = config.lr_min + (config.lr - config.lr_min) * (
        config.lr_decay_rate ** (step / config.lr_decay_steps))
    return max(config.lr_min, decayed)


#: file beside ``checkpoint.pt`` holding the checkpoint it replaced (kept in case the newest one
#: was written on the way to a divergence)
PREVIOUS_CHECKPOINT_NAME = "checkpoint.prev.pt"

# Fields that may change when a run is resumed (they do not change what is learned).
_RESUMABLE_CHANGES = ("steps", "checkpoint_every", "device", "num_threads")
# Fields that may change too, each change recorded in the checkpoint's
# metadata["changes_on_resume"]: the optimiser's (to resume a run that diverged, or to anneal
# it) and the walks' (a training stage: longer backprop windows, other worlds or walks)
_STAGE_CHANGES = ("lr", "lr_min", "lr_decay_rate", "lr_decay_steps", "grad_clip", "window",
                  "walk_length", "worlds", "repeat_bias")


def changes_on_resume(config: TrainConfig, ckpt: Checkpoint) -> list[dict[str, Any]]:
    """The changes a resume of ``ckpt`` with ``config`` makes (:data:`_STAGE_CHANGES`).

    Each is ``{"step": <checkpoint step>, "field": name, "from": old, "to": new}``.
    """
    saved, wanted = dict(ckpt.train_config), to_dict(config)
    return [{"step": ckpt.step, "field": k, "from": saved.get(k), "to": wanted[k]}
            for k in _STAGE_CHANGES if saved.get(k) != wanted[k]]


def _resume_metadata(metadata: dict[str, Any] | None, ckpt: Checkpoint,
                     changes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``metadata`` with the run's history of changes and commands carried over from ``ckpt``.

    ``changes_on_resume`` accumulates every resume's changes; ``commands`` every distinct
    command (``metadata["command"]``) with the step it started from, so a checkpoint trained
    in stages names each stage's command.
    """
    old = ckpt.metadata
    merged = dict(metadata or {})
    history = [*old.get("changes_on_resume", []), *changes]
    if history:
        merged["changes_on_resume"] = history
    commands = list(old.get("commands") or (
        [{"from_step": 0, "command": old["command"]}] if old.get("command") else []))
    command = merged.get("command")
    if command and (not commands or commands[-1]["command"] != command):
        commands.append({"from_step": ckpt.step, "command": command})
    if commands:
        merged["commands"] = commands
    return merged or metadata


def _check_resume(config: TrainConfig, ckpt: Checkpoint, path: Path) -> None:
    if ckpt.model_type != config.model:
        raise ValueError(f"out: {path} holds a {ckpt.model_type!r} checkpoint; cannot resume "
                         f"it as a {config.model!r} model (use another --out directory)")
    if ckpt.optimizer_state is None:
        raise ValueError(f"out: {path} holds an inference-only checkpoint (no optimiser "
                         "state); it cannot be resumed")
    kind = parse_world(config.worlds[0], seed=0).kind
    if ckpt.world_kind and kind != ckpt.world_kind:  # the learned actions would change meaning
        raise ValueError(f"out: {path} was trained on {ckpt.world_kind} worlds; a resume may "
                         f"change worlds only to other {ckpt.world_kind} worlds, not "
                         f"{config.worlds[0]} ({kind})")
    saved = dict(ckpt.train_config)
    wanted = to_dict(config)
    # the table of the model not trained (tem_t for TEM, tem for TEM-t) changes nothing
    unused = {"tem_t", "tem"} - {config.model_key()}
    for key in sorted(set(saved) | set(wanted)):
        if key in _RESUMABLE_CHANGES or key in _STAGE_CHANGES or key in unused:
            continue
        old, new = saved.get(key), wanted.get(key)
        if old == new:
            continue
        name = key
        if isinstance(old, dict) and isinstance(new, dict):
            # a model's sizes: name the first differing field (tem_t.d_key), not the table
            sub = next(k for k in sorted(set(old) | set(new), key=str)
                       if old.get(k) != new.get(k))
            name, old, new = f"{key}.{sub}", old.get(sub), new.get(sub)
        raise ValueError(f"out: {path} was trained with {name}={old!r}, not {new!r}; use the "
                         f"same configuration to resume, or another --out directory")


def check_resume(config: TrainConfig, out: str | Path) -> Checkpoint | None:
    """The checkpoint ``out`` holds, checked to be one :func:`train` can resume.

    Checked against ``config``; ``None`` when ``out`` holds none.

    Lets a caller refuse a resume before it writes anything into ``out``.

    Raises
    ------
    ValueError
        One line naming ``out/checkpoint.pt``: not a readable checkpoint, another model type,
        an inference-only checkpoint, or a configuration that differs (the key is named).
    """
    path = Path(out) / CHECKPOINT_NAME
    if not path.exists():
        return None
    ckpt = load_checkpoint(path)
    _check_resume(config, ckpt, path)
    return ckpt


def train(config: TrainConfig, out: str | Path, *, progress: bool = True,
          on_step: Callable[[int, dict[str, float]], None] | None = None,
          metadata: dict[str, Any] | None = None) -> TrainResult:
    """Train (or resume training) a model into ``out/checkpoint.pt``.

    Parameters
    ----------
    config
        :class:`TrainConfig` (validated here, before any work).
    out
        Directory of the run; if it holds ``checkpoint.pt`` of the same configuration the run
        resumes from it (``steps`` may be raised to train longer). A resume may also change
        the optimiser's fields and the walks' (``window``, ``walk_length``, ``worlds``,
        ``repeat_bias``): a new training stage, recorded in the checkpoint's
        ``metadata["changes_on_resume"]`` (and each stage's ``metadata["command"]`` in
        ``metadata["commands"]``); the model's fields may not change.
    progress
        Show a tqdm progress bar (steps, loss, accuracy at visited nodes, ETA).
    on_step
        Called after every optimiser step with ``(step, terms)``; an exception raised there
        stops training (the last checkpoint stays valid).
    metadata
        Stored in the checkpoint (e.g. the command line).

    Returns
    -------
    TrainResult
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    config.validate()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out: {out} exists and is not a directory")
    device = check_device("device", config.device)
    progress = check_bool("progress", progress)
    structures = [parse_world(spec, seed=0) for spec in config.worlds]
    path = out / CHECKPOINT_NAME
    model = build_model(config.model, config.model_config(),
                        seed=child_seed(config.seed, "model"), device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    step = episode = resumed_from = 0
    changes: list[dict[str, Any]] = []
    wall = 0.0
    history: list[dict[str, float]] = []
    if path.exists():
        ckpt = load_checkpoint(path, map_location=device)
        _check_resume(config, ckpt, path)
        model.load_state_dict(ckpt.model_state)
        model.set_progress(ckpt.step)
        optimizer.load_state_dict(ckpt.optimizer_state)
        step, episode, wall, history = ckpt.step, ckpt.episode, ckpt.wall_time_s, ckpt.history
        if ckpt.rng_state is not None:
            torch.set_rng_state(ckpt.rng_state)
        resumed_from = step
        changes = changes_on_resume(config, ckpt)
        metadata = _resume_metadata(metadata, ckpt, changes)
    elif metadata and metadata.get("command"):
        metadata = {**metadata, "commands": [{"from_step": 0, "command": metadata["command"]}]}
    out.mkdir(parents=True, exist_ok=True)

    saved_step = step if path.exists() else None

    def save() -> None:
        nonlocal saved_step
        saved_step = step
        _save_keeping_previous(path, _payload(
            config.model, config.model_config(), model.state_dict(),
            train_config=to_dict(config), step=step, episode=episode, wall_time_s=wall,
            world_kind=structures[0].kind, action_names=structures[0].action_names,
            history=history, optimizer_state=optimizer.state_dict(),
            rng_state=torch.get_rng_state(), metadata=metadata))

    bar = None
    if progress and step < config.steps:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.steps, initial=step, desc=f"train {config.model}",
                   unit="step", dynamic_ncols=True)
    model.train()
    try:
        while step < config.steps:
            start = time.perf_counter()
            batch = episode_batch(config, episode, structures)
            acts, obs = batch["actions"], batch["observations"]
            visited = torch.as_tensor(visited_mask(batch["nodes"]), device=device)
            state = model.begin(obs[:, 0])
            losses, correct, n_visited = [], 0.0, 0.0
            for t0 in range(0, acts.shape[1], config.window):
                if step >= config.steps:
                    break
                model.set_progress(step)
                for group in optimizer.param_groups:
                    group["lr"] = _learning_rate(config, step)
                sl = slice(t0, t0 + config.window)
                vis = visited[:, sl]
                # TEM's losses on revisits only (train_on_visited_states_only)
                extra = {"visited": vis} if model.trains_on_visited_only else {}
                output = model(state, acts[:, sl], obs[:, t0 + 1:t0 + 1 + config.window],
                               **extra)
                _check_finite("loss", output.loss, output.terms, step, episode,
                              path, saved_step)
                optimizer.zero_grad(set_to_none=True)
                output.loss.backward()
                # the total norm, clipped only when grad_clip > 0 (an infinite max_norm
                # leaves the gradients as they are)
                norm = torch.nn.utils.clip_grad_norm_(
                    model.parameters(), config.grad_clip if config.grad_clip > 0 else math.inf)
                _check_finite("gradient norm", norm, output.terms, step, episode,
                              path, saved_step)
                optimizer.step()
                # each parameter's largest |value|: non-finite exactly when an entry is
                _check_finite("parameters", torch.stack(
                    [p.detach().abs().amax() for p in model.parameters()]),
                    output.terms, step, episode, path, saved_step)
                state = model.detach_state(output.state)
                step += 1
                hits = output.logits.detach().argmax(-1) == obs[:, t0 + 1:t0 + 1 + config.window]
                correct += float((hits & vis).sum())
                n_visited += float(vis.sum())
                losses.append(float(output.loss.detach()))
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{losses[-1]:.3f}",
                                    acc_visited=f"{correct / max(n_visited, 1):.3f}")
                if on_step is not None:
                    on_step(step, output.terms)
            wall += time.perf_counter() - start
            history.append({"step": step, "episode": episode, "loss": float(np.mean(losses)),
                            "accuracy_visited": correct / max(n_visited, 1.0),
                            "walk_length": int(acts.shape[1]), "wall_time_s": wall})
            episode += 1
            if episode % config.checkpoint_every == 0 or step >= config.steps:
                save()
    finally:
        if bar is not None:
            bar.close()
    if not path.exists():
        save()
    model.eval()
    return TrainResult(model=model, step=step, episode=episode, wall_time_s=wall,
                       history=history, checkpoint=path, resumed_from=resumed_from,
                       changes_on_resume=changes)

