r"""Training, checkpoints and evaluation of TEM and TEM-t on graph worlds.

Training protocol (Whittington et al. 2020, 2022; SCIENCE.md section 3)
-----------------------------------------------------------------------
- An **episode** is one batch of ``batch_size`` walks, each on its own world: a structure
  drawn uniformly from ``worlds`` (e.g. square grids of several sizes) with freshly sampled
  symbols, so nothing but structure carries over from one episode to the next. The walk
  length is drawn uniformly from ``walk_length`` (a multiple of ``window``); walks repeat
  their last action with probability ``repeat_bias``.
- The walk is cut into **windows** of ``window`` steps (truncated backpropagation through
  time): one optimiser step per window. The model state (position code and memory) carries
  over from window to window, detached, so the memory of every earlier step of the walk is
  still there but no gradient flows into it.
- Adam with an exponentially decaying learning rate
  :math:`\eta_s = \max(\eta_\mathrm{min}, \eta_\mathrm{min} + (\eta_0 - \eta_\mathrm{min})
  \, r^{s / s_r})` (TEM's schedule), gradient-norm clipping.

Everything random is derived from ``seed`` by name (:mod:`models.seeding`): the worlds,
symbols and walks of episode :math:`i` come from ``child_seed(seed, "episode", i)``, so a run
resumed from a checkpoint sees exactly the data it would have seen without the interruption.

Checkpoints
-----------
``DIR/checkpoint.pt`` is rewritten atomically (temporary file, then rename:
:func:`models.rundir.atomic_path`) every ``checkpoint_every`` episodes and at the end. It
holds the model and optimiser state, step and episode counters, torch RNG state, wall time
and the training history. :func:`train` on a ``DIR`` that holds a checkpoint resumes from it,
so an interrupted run loses at most one checkpoint interval and continues exactly as an
uninterrupted run would (same data, same optimiser moments).

A checkpoint holds plain data only (tensors, numbers, strings, lists, tuples, dicts; anything
else given as ``metadata`` is converted, e.g. ``torch.__version__`` to ``str``, or refused),
and :func:`load_checkpoint` reads it with ``torch.load(weights_only=True)``: a file that names
anything else (a class, a function) is refused with a ``ValueError``, and nothing in a
checkpoint is ever imported or called.

Evaluation
----------
:func:`evaluate` runs a model on fresh worlds (new symbols, walks never seen) and scores every
step: correct if the arg-max prediction equals the observation. Steps are classified with the
baselines of :mod:`models.worlds`: *visited* (the target node was visited before: the node
agent knows it) and *link inference* (visited, but reached by a directed edge never taken:
the edge agent cannot know it). Metrics: ``accuracy_visited``,
``accuracy_link_inference``, and the curve of fraction correct against fraction of nodes
visited, next to the node and edge agents, with ``max_gap_to_node_agent_after_half``: the
largest absolute gap between the model's curve and the node agent's over the bins where at
least half of the nodes have been visited.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import pickle
import re
import time
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from models._checks import check_bool, check_device, check_int, check_real
from models.config import from_dict, to_dict
from models.rundir import atomic_path
from models.seeding import SeedLike, child_seed, numpy_rng
from models.tem import WalkModel
from models.tem_hebbian import TEM, TEMConfig
from models.tem_t import TEMT, TEMTConfig
from models.worlds import (
    Walk,
    World,
    batch_walks,
    edge_agent,
    fraction_visited,
    link_inference_mask,
    node_agent,
    parse_world,
    visited_before,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "DEFAULT_CHECKPOINTS",
    "MODEL_TYPES",
    "NAMED_CHECKPOINTS",
    "Checkpoint",
    "Evaluation",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "check_resume",
    "default_checkpoint_path",
    "evaluate",
    "export_checkpoint",
    "load_checkpoint",
    "load_model",
    "named_checkpoint_path",
    "train",
    "visited_mask",
]

CHECKPOINT_FORMAT = "memcircuits-tem-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"

#: model type -> (model class, config class)
MODEL_TYPES: dict[str, tuple[type[WalkModel], type]] = {
    "tem-t": (TEMT, TEMTConfig),
    "tem": (TEM, TEMConfig),
}

#: world kind -> file name of the shipped pretrained TEM-t checkpoint (models/checkpoints/)
DEFAULT_CHECKPOINTS: dict[str, str] = {
    "square": "tem_t_default.pt",
    "hexagonal": "tem_t_hex.pt",
}

#: checkpoint name -> world kind -> file in models/checkpoints/ ("cyclic": TEM-t with cyclic
#: grid modules, whose learned shifts drive the spiking MEC; see models/checkpoints/README.md)
NAMED_CHECKPOINTS: dict[str, dict[str, str]] = {
    "default": DEFAULT_CHECKPOINTS,
    "cyclic": {"square": "tem_t_cyclic.pt"},  # no hexagonal one: see the README there
    # toroidal modules learned on hexagonal worlds: triangular grid cells
    "torus": {"hexagonal": "tem_t_torus_hex.pt"},
}

_TRAIN_SQUARES = ("square:4x4", "square:5x5", "square:6x6", "square:7x7", "square:8x8",
                  "square:9x9")


@dataclass(frozen=True)
class TrainConfig:
    """Training run of TEM or TEM-t (``memcircuits tem train``)."""

    model: Literal["tem-t", "tem"] = "tem-t"  # which model to train
    worlds: tuple[str, ...] = _TRAIN_SQUARES  # structures (parse_world specs), one kind
    steps: int = 5000  # optimiser steps (one per window)
    batch_size: int = 16  # worlds per episode (TEM: 16)
    window: int = 20  # truncated-backprop window in steps (TEM: 20-25)
    walk_length: tuple[int, int] = (100, 600)  # walk length range per episode (steps)
    repeat_bias: float = 0.25  # probability of repeating the last action (TEM: explore bias)
    lr: float = 2e-3  # initial Adam learning rate
    lr_min: float = 2e-4  # floor of the learning rate (TEM: 8e-5)
    lr_decay_rate: float = 0.5  # r: lr falls by this factor every lr_decay_steps (TEM: 0.5)
    lr_decay_steps: int = 2000  # s_r (TEM: 4000)
    grad_clip: float = 1.0  # max gradient norm (0: no clipping)
    checkpoint_every: int = 20  # episodes between checkpoints
    seed: int = 0  # seed of initialisation, worlds, symbols and walks
    device: str = "cpu"  # torch device: "cpu", "cuda", "cuda:1"...
    num_threads: int = 1  # torch CPU threads (1: the cores are often shared)
    tem_t: TEMTConfig = field(default_factory=TEMTConfig)  # TEM-t sizes (model = "tem-t")
    tem: TEMConfig = field(default_factory=TEMConfig)  # TEM sizes (model = "tem")

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field (before any heavy work)."""
        if self.model not in MODEL_TYPES:
            raise ValueError(f"model must be one of {', '.join(map(repr, MODEL_TYPES))}, "
                             f"got {self.model!r}")
        if isinstance(self.worlds, str) or not isinstance(self.worlds, Sequence):
            raise TypeError(f"worlds must be a list of world specs such as ['square:8x8'], "
                            f"got {self.worlds!r}")
        if not self.worlds:
            raise ValueError("worlds must name at least one world structure")
        structures = []
        for k, spec in enumerate(self.worlds):
            try:  # an unknown spec, or a world over the memory budget (it names the world)
                structures.append(parse_world(spec, seed=0))
            except (ValueError, TypeError) as exc:
                raise type(exc)(f"worlds[{k}]: {exc}") from None
            if structures[-1].n_nodes < 2:
                raise ValueError(f"worlds[{k}]: {spec!r} has a single node; a walk needs two "
                                 f"or more (e.g. square:2x2)")
        kinds = {w.kind for w in structures}
        if len(kinds) > 1 or len({w.action_names for w in structures}) > 1:
            raise ValueError(f"worlds must share one kind and action set, got {sorted(kinds)}")
        check_int("steps", self.steps, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        window = check_int("window", self.window, minimum=1)
        lo, hi = (check_int("walk_length[0]", self.walk_length[0], minimum=1),
                  check_int("walk_length[1]", self.walk_length[1], minimum=1))
        if lo > hi:
            raise ValueError(f"walk_length must be (min, max) with min <= max, got "
                             f"{self.walk_length}")
        if lo < window:
            raise ValueError(f"walk_length: the shortest walk ({lo} steps) is shorter than the "
                             f"backprop window ({window} steps); lengthen the walks or shorten "
                             f"the window")
        check_real("repeat_bias", self.repeat_bias, minimum=0.0, maximum=1.0)
        check_real("lr", self.lr, minimum=0.0, strict_minimum=True)
        check_real("lr_min", self.lr_min, minimum=0.0)
        check_real("lr_decay_rate", self.lr_decay_rate, minimum=0.0, maximum=1.0,
                   strict_minimum=True)
        check_int("lr_decay_steps", self.lr_decay_steps, minimum=1)
        check_real("grad_clip", self.grad_clip, minimum=0.0)
        check_int("checkpoint_every", self.checkpoint_every, minimum=1)
        check_int("seed", self.seed, minimum=0)
        if not isinstance(self.device, str):
            raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got "
                            f"{self.device!r}")
        check_device("device", self.device)
        check_int("num_threads", self.num_threads, minimum=0)
        self.model_config().validate()
        n_actions = len(structures[0].action_names)
        if self.model_config().n_actions != n_actions:
            raise ValueError(f"{self.model_key()}.n_actions must be {n_actions} for "
                             f"{structures[0].kind} worlds, got {self.model_config().n_actions}")
        self._check_memory()

    def _check_memory(self) -> None:
        """Refuse a batch or walk length over the memory budget before anything is drawn.

        Estimate of one episode, ``B = batch_size`` walks of up to ``T = walk_length[1]``
        steps, window ``W``: the walks (``random_walk``'s Python lists, ~180 bytes a step);
        TEM-t's memory (float32 keys, values, positions of every step, copied by the
        ``torch.cat`` of each window: ``8 (d_key + d_value + d_position + 2)`` bytes a step)
        and the attention kept for backpropagation (scores and softmax of the retrieval and
        the correction, the symbol match: ~6 float32 over ``T`` memories at each of the
        ``W`` steps of a window); TEM's Hebbian matrices (``(B, d_p, d_p)`` float32, a new one
        per step kept over the window, with the retrieval's ~2 more). The budget is
        ``MEMCIRCUITS_MEMORY_BUDGET_GIB`` or 80% of physical memory.
        """
        from models._memory import refuse_over_budget

        batch, (_, longest), window = self.batch_size, self.walk_lengths(), self.window
        cfg = self.model_config()
        walks = 180 * batch * longest
        if self.model == "tem-t":
            model = (8 * batch * longest * (cfg.d_key + cfg.d_value + cfg.d_position + 2)
                     + 6 * 4 * batch * window * longest)
            what = "TEM-t memories and attention"
        else:
            d_p = sum(cfg.g_subsampled) * cfg.n_compressed
            model = 3 * 4 * batch * window * d_p * d_p
            what = f"TEM Hebbian matrices ({d_p} x {d_p})"
        if self.batch_size / 16 >= longest / 600:  # the field furthest above its default
            field, value = "batch_size", self.batch_size
        else:
            field, value = "walk_length", self.walk_length
        refuse_over_budget(field, value, walks + model,
                           f"{batch} walks of up to {longest} steps, window {window}: walks "
                           f"{walks / 2**30:.3g} GiB, {what} {model / 2**30:.3g} GiB")

    def model_key(self) -> str:
        """Name of the field holding the model's sizes (``"tem_t"`` or ``"tem"``)."""
        return "tem_t" if self.model == "tem-t" else "tem"

    def model_config(self) -> Any:
        """The model's config (:class:`TEMTConfig` or :class:`TEMConfig`)."""
        return getattr(self, self.model_key())

    def walk_lengths(self) -> tuple[int, int]:
        """Shortest and longest walk, rounded to whole windows."""
        lo = math.ceil(self.walk_length[0] / self.window) * self.window
        hi = max(lo, (self.walk_length[1] // self.window) * self.window)
        return lo, hi


def train_config_for_worlds(**kwargs: Any) -> TrainConfig:
    """A :class:`TrainConfig` whose model ``n_actions`` matches its ``worlds``.

    Same keywords as :class:`TrainConfig`; ``tem_t``/``tem`` may be omitted or given without
    ``n_actions``.
    """
    worlds = kwargs.get("worlds", _TRAIN_SQUARES)
    n_actions = parse_world(worlds[0], seed=0).n_actions
    for key, cls in (("tem_t", TEMTConfig), ("tem", TEMConfig)):
        sub = kwargs.get(key, cls())
        kwargs[key] = dataclasses.replace(sub, n_actions=n_actions)
    config = TrainConfig(**kwargs)
    config.validate()
    return config


# ---------------------------------------------------------------------------------- models
def build_model(model_type: str, config: Any, *, seed: SeedLike = 0,
                device: torch.device | str | None = None) -> WalkModel:
    """A fresh model of ``model_type`` (``"tem-t"`` or ``"tem"``) with ``config``."""
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be one of {', '.join(map(repr, MODEL_TYPES))}, "
                         f"got {model_type!r}")
    cls, _ = MODEL_TYPES[model_type]
    return cls(config, seed=seed, device=device)


# ----------------------------------------------------------------------------- checkpoints
@dataclass
class Checkpoint:
    """A TEM/TEM-t checkpoint as loaded by :func:`load_checkpoint`."""

    path: Path
    model_type: str
    model_config: Any
    model_state: dict[str, torch.Tensor]
    train_config: dict[str, Any]
    step: int
    episode: int
    wall_time_s: float
    world_kind: str
    action_names: tuple[str, ...]
    history: list[dict[str, float]] = field(default_factory=list)
    optimizer_state: dict[str, Any] | None = None
    rng_state: torch.Tensor | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def build(self, *, device: torch.device | str | None = None) -> WalkModel:
        """The model with the checkpoint's weights, in evaluation mode."""
        model = build_model(self.model_type, self.model_config, device=device)
        try:
            model.load_state_dict(self.model_state)
        except RuntimeError as exc:  # missing, unexpected or mis-shaped tensors
            raise ValueError(f"checkpoint: {self.path} field 'model_state' does not fit its "
                             f"'model_config' ({_first_line(exc)})") from None
        model.set_progress(self.step)  # TEM: the eta/lambda/trust ramps it was trained with
        model.eval()
        return model


def _save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path, *, expected_type: str | None = None,
                    map_location: torch.device | str = "cpu") -> Checkpoint:
    """Read a checkpoint written by :func:`train` or :func:`export_checkpoint`.

    Parameters
    ----------
    path
        The ``.pt`` file (or a run directory holding ``checkpoint.pt``).
    expected_type
        ``"tem-t"`` or ``"tem"``: refuse a checkpoint of the other model with a clear error.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        One line starting with ``checkpoint: <path>``: the file is not a torch file, holds
        objects that are not plain data (a pickle that would import or call something: it
        is refused, never run), is not a TEM/TEM-t checkpoint, lacks a field or holds one of
        the wrong type (the message names it), or holds another model type.

    Notes
    -----
    The file is read with ``torch.load(weights_only=True)``: torch's restricted unpickler
    builds tensors, numbers, strings, lists, tuples and dicts and nothing else, so a crafted
    file cannot run code.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint: no such file {path}")
    return _checkpoint_from_payload(path, _read_payload(path, map_location), expected_type)


def _first_line(exc: BaseException) -> str:
    """The first non-empty line of ``exc``'s message (terminal escapes removed), or its type."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines()]
    return next((line for line in lines if line), type(exc).__name__)


def _read_payload(path: Path, map_location: torch.device | str) -> Any:
    """What ``path`` holds, read with torch's weights-only unpickler (never runs code)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickles it did not write
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # one line, never torch's advice to load with weights_only=False
        message = str(exc)
        reason = message.rsplit("WeightsUnpickler error:", 1)[-1].split("Check the docum")[0]
        if isinstance(exc, pickle.UnpicklingError) and re.search(
                r"GLOBAL|Can only|blocked", reason):  # a class or function: never imported
            named = re.search(r"GLOBAL (\S+)", reason)
            what = f" (it names {named.group(1)})" if named else ""
            raise ValueError(f"checkpoint: {path} holds objects that are not plain "
                             f"data{what}; refusing to load it (memcircuits never executes "
                             f"code from a checkpoint)") from None
        if not zipfile.is_zipfile(path):
            raise ValueError(f"checkpoint: {path} is not a torch file (torch.save writes a "
                             f"zip archive)") from None
        detail = _first_line(ValueError(reason)) if reason.strip() else _first_line(exc)
        raise ValueError(f"checkpoint: {path} is not a readable torch file "
                         f"({detail})") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _checkpoint_from_payload(path: Path, payload: Any,
                             expected_type: str | None) -> Checkpoint:
    """Check every field of a loaded checkpoint ``payload``; one ``ValueError`` naming the
    first missing or ill-typed one."""
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint: {path} is not a memcircuits TEM/TEM-t checkpoint")

    def bad(name: str, wanted: str) -> ValueError:
        return ValueError(f"checkpoint: {path} field {name!r} must be {wanted}, got "
                          f"{type(payload[name]).__name__}")

    for name in ("model_type", "model_config", "model_state"):
        if name not in payload:
            raise ValueError(f"checkpoint: {path} has no {name!r} field (a damaged or "
                             f"incomplete checkpoint)")
    version = payload.get("format_version", 0)
    if not _is_int(version):
        raise bad("format_version", "an int")
    if version > CHECKPOINT_VERSION:
        raise ValueError(f"checkpoint: {path} has format version {version}, newer than this "
                         f"memcircuits reads ({CHECKPOINT_VERSION})")
    model_type = payload["model_type"]
    if not isinstance(model_type, str):
        raise bad("model_type", "a string")
    if model_type not in MODEL_TYPES:
        raise ValueError(f"checkpoint: {path} holds an unknown model type {model_type!r}")
    if expected_type is not None and model_type != expected_type:
        raise ValueError(f"checkpoint: {path} holds a {model_type!r} model, not a "
                         f"{expected_type!r} model")
    if not isinstance(payload["model_config"], dict):
        raise bad("model_config", "a dict")
    _, config_cls = MODEL_TYPES[model_type]
    try:
        model_config = from_dict(config_cls, payload["model_config"], where="model_config")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint: {path} field 'model_config' is not a valid "
                         f"{config_cls.__name__} ({_first_line(exc)})") from None
    state = payload["model_state"]
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ValueError(f"checkpoint: {path} field 'model_state' must be a dict of tensors "
                         f"by parameter name")
    # optional fields: (checker, what it must be, default)
    optional: dict[str, tuple[Callable[[Any], bool], str, Any]] = {
        "train_config": (lambda v: isinstance(v, dict), "a dict", {}),
        "step": (lambda v: _is_int(v) and v >= 0, "an int >= 0", 0),
        "episode": (lambda v: _is_int(v) and v >= 0, "an int >= 0", 0),
        "wall_time_s": (lambda v: isinstance(v, int | float) and not isinstance(v, bool),
                        "a number", 0.0),
        "world_kind": (lambda v: isinstance(v, str), "a string", ""),
        "action_names": (lambda v: isinstance(v, list | tuple)
                         and all(isinstance(a, str) for a in v), "a list of strings", ()),
        "history": (lambda v: isinstance(v, list) and all(isinstance(h, dict) for h in v),
                    "a list of dicts", []),
        "optimizer_state": (lambda v: v is None or isinstance(v, dict), "a dict or None",
                            None),
        "rng_state": (lambda v: v is None or isinstance(v, torch.Tensor), "a tensor or None",
                      None),
        "metadata": (lambda v: isinstance(v, dict), "a dict", {}),
    }
    fields: dict[str, Any] = {}
    for name, (ok, wanted, default) in optional.items():
        if name not in payload:
            fields[name] = default
        elif not ok(payload[name]):
            raise bad(name, wanted)
        else:
            fields[name] = payload[name]
    return Checkpoint(
        path=path, model_type=model_type, model_config=model_config, model_state=state,
        train_config=fields["train_config"], step=fields["step"], episode=fields["episode"],
        wall_time_s=float(fields["wall_time_s"]), world_kind=fields["world_kind"],
        action_names=tuple(fields["action_names"]), history=list(fields["history"]),
        optimizer_state=fields["optimizer_state"], rng_state=fields["rng_state"],
        metadata=dict(fields["metadata"]))


def default_checkpoint_path(world_kind: str = "square") -> Path:
    """Path of the shipped pretrained TEM-t checkpoint for worlds of ``world_kind``."""
    if world_kind not in DEFAULT_CHECKPOINTS:
        raise ValueError(f"world_kind: no shipped checkpoint for {world_kind!r} worlds; "
                         f"there are: {', '.join(DEFAULT_CHECKPOINTS)}")
    return Path(__file__).resolve().parent / "checkpoints" / DEFAULT_CHECKPOINTS[world_kind]


def named_checkpoint_path(name: str, world_kind: str = "square") -> Path:
    """Path of the shipped checkpoint ``name`` (a key of :data:`NAMED_CHECKPOINTS`) for
    worlds of ``world_kind``.

    Raises
    ------
    ValueError
        For an unknown name, or a name with no shipped file for ``world_kind``.
    """
    if name not in NAMED_CHECKPOINTS:
        raise ValueError(f"checkpoint: no shipped checkpoint called {name!r}; there are: "
                         f"{', '.join(NAMED_CHECKPOINTS)} (or give a path)")
    files = NAMED_CHECKPOINTS[name]
    path = Path(__file__).resolve().parent / "checkpoints" / files.get(world_kind, "")
    if world_kind not in files or not path.is_file():
        raise ValueError(f"checkpoint: no shipped {name!r} checkpoint for {world_kind!r} "
                         f"worlds (only for {', '.join(map(repr, files))} worlds)")
    return path


def load_model(checkpoint: str | Path = "default", *, expected_type: str | None = None,
               world_kind: str = "square",
               device: torch.device | str | None = None) -> tuple[WalkModel, Checkpoint]:
    """Load a model from a checkpoint path, or a shipped one by name: ``"default"`` (the
    pretrained TEM-t for ``world_kind``), ``"cyclic"`` (TEM-t with cyclic grid modules,
    square worlds) or ``"torus"`` (toroidal grid modules, hexagonal worlds).

    Returns
    -------
    (WalkModel, Checkpoint)
        The model in evaluation mode on ``device`` and its checkpoint record.
    """
    if isinstance(checkpoint, str) and checkpoint == "default":
        checkpoint = default_checkpoint_path(world_kind)
    elif isinstance(checkpoint, str) and checkpoint in NAMED_CHECKPOINTS:
        checkpoint = named_checkpoint_path(checkpoint, world_kind)
    elif isinstance(checkpoint, str) and not Path(checkpoint).exists():
        raise FileNotFoundError(f"checkpoint: no such file {checkpoint} (and not a shipped "
                                f"checkpoint name: {', '.join(NAMED_CHECKPOINTS)})")
    ckpt = load_checkpoint(checkpoint, expected_type=expected_type)
    return ckpt.build(device=device), ckpt


def export_checkpoint(source: str | Path, target: str | Path, *,
                      metadata: dict[str, Any] | None = None, quantise: bool = False) -> Path:
    """Write an inference-only copy of a checkpoint (no optimiser state) with ``metadata``.

    Used to make the shipped pretrained checkpoint small; ``metadata`` (e.g. the exact
    training command and wall time) is merged into the checkpoint's ``metadata``. With
    ``quantise=True`` (TEM-t with cyclic modules only) every shift kernel is replaced by its
    most probable shift (:meth:`models.tem_t.TEMT.quantise_kernels`) and the metadata records
    ``"quantised": true``.
    """
    ckpt = load_checkpoint(source)
    state = ckpt.model_state
    if check_bool("quantise", quantise):
        model = ckpt.build()
        if getattr(model.config, "transition", None) != "cyclic":
            raise ValueError(f"quantise: only TEM-t with cyclic modules has shift kernels; "
                             f"{source} holds a {ckpt.model_type} model without them")
        model.quantise_kernels()
        state = model.state_dict()
        metadata = {**(metadata or {}), "quantised": True}
    payload = _payload(ckpt.model_type, ckpt.model_config, state,
                       train_config=ckpt.train_config, step=ckpt.step, episode=ckpt.episode,
                       wall_time_s=ckpt.wall_time_s, world_kind=ckpt.world_kind,
                       action_names=ckpt.action_names, history=ckpt.history,
                       metadata={**ckpt.metadata, **(metadata or {})})
    return _save_checkpoint(Path(target), payload)


def _payload(model_type: str, model_config: Any, model_state: dict[str, torch.Tensor], *,
             train_config: dict[str, Any], step: int, episode: int, wall_time_s: float,
             world_kind: str, action_names: Sequence[str], history: list[dict[str, float]],
             optimizer_state: dict[str, Any] | None = None,
             rng_state: torch.Tensor | None = None,
             metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The dict a checkpoint file holds, plain data only (:func:`_plain`), so that
    ``torch.load(weights_only=True)`` reads back every checkpoint written here."""
    return {
        "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
        "model_type": str(model_type),
        "model_config": _plain(to_dict(model_config), "model_config"),
        "model_state": {str(k): v.detach().cpu() for k, v in model_state.items()},
        "train_config": _plain(train_config, "train_config"),
        "step": int(step), "episode": int(episode), "wall_time_s": float(wall_time_s),
        "world_kind": str(world_kind), "action_names": [str(a) for a in action_names],
        "history": _plain(history, "history"),
        "optimizer_state": _plain(optimizer_state, "optimizer_state"),
        "rng_state": _plain(rng_state, "rng_state"),
        "metadata": _plain(metadata or {}, "metadata"),
    }


def _plain(value: Any, where: str) -> Any:
    """``value`` as plain data that ``torch.load(weights_only=True)`` reads back.

    Plain types pass; subclasses become their base type (``torch.__version__``, a
    ``TorchVersion``, becomes a ``str``), numpy scalars Python numbers, paths strings,
    tensors detached CPU tensors; dicts, lists and tuples are converted item by item.

    Raises
    ------
    TypeError
        For anything else, naming where it is (e.g. ``metadata['when']``).
    """
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str | int) or isinstance(key, bool):
                raise TypeError(f"{where}: key {key!r} is a {type(key).__name__}; a "
                                f"checkpoint's dict keys must be strings or ints")
            out[_plain(key, where)] = _plain(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, list | tuple):
        items = [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    raise TypeError(f"{where}: a {type(value).__name__} is not plain data; a checkpoint "
                    f"holds only strings, numbers, booleans, None, tensors, lists, tuples "
                    f"and dicts")


# ------------------------------------------------------------------------------- episodes
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


# ---------------------------------------------------------------------------------- train
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


def _learning_rate(config: TrainConfig, step: int) -> float:
    decayed = config.lr_min + (config.lr - config.lr_min) * (
        config.lr_decay_rate ** (step / config.lr_decay_steps))
    return max(config.lr_min, decayed)


# Fields that may change when a run is resumed (they do not change what is learned).
_RESUMABLE_CHANGES = ("steps", "checkpoint_every", "device", "num_threads")


def _check_resume(config: TrainConfig, ckpt: Checkpoint, path: Path) -> None:
    if ckpt.model_type != config.model:
        raise ValueError(f"out: {path} holds a {ckpt.model_type!r} checkpoint; cannot resume "
                         f"it as a {config.model!r} model (use another --out directory)")
    if ckpt.optimizer_state is None:
        raise ValueError(f"out: {path} holds an inference-only checkpoint (no optimiser "
                         "state); it cannot be resumed")
    saved = dict(ckpt.train_config)
    wanted = to_dict(config)
    for key in sorted(set(saved) | set(wanted)):
        if key in _RESUMABLE_CHANGES:
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
    """The checkpoint ``out`` holds, checked to be one :func:`train` can resume with
    ``config``; ``None`` when ``out`` holds none.

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
        resumes from it (``steps`` may be raised to train longer).
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
    out.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        _save_checkpoint(path, _payload(
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
                output = model(state, acts[:, sl], obs[:, t0 + 1:t0 + 1 + config.window])
                optimizer.zero_grad(set_to_none=True)
                output.loss.backward()
                if config.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                state = model.detach_state(output.state)
                step += 1
                hits = output.logits.detach().argmax(-1) == obs[:, t0 + 1:t0 + 1 + config.window]
                vis = visited[:, sl]
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
                       history=history, checkpoint=path, resumed_from=resumed_from)


# ------------------------------------------------------------------------------- evaluate
@dataclass
class Evaluation:
    """Per-step results of a model on fresh worlds (``n_worlds`` walks of ``T`` steps).

    All arrays are ``(n_worlds, T)``; entry ``[b, t]`` is about predicting observation
    ``t + 1`` of walk ``b``.
    """

    world: World  # the structure (its symbols are those of world 0)
    correct: np.ndarray  # model's arg-max prediction equals the observation
    visited: np.ndarray  # the target node was visited before (node agent knows it)
    link_inference: np.ndarray  # visited, reached by a directed edge never taken
    node_agent: np.ndarray  # probability the node agent is right
    edge_agent: np.ndarray  # probability the edge agent is right
    fraction_visited: np.ndarray  # fraction of nodes visited before the prediction
    nodes: np.ndarray  # (n_worlds, T+1) node ids of the walks
    positions: np.ndarray | None = None  # (n_worlds, T+1, d) position code at every node
    # (n_worlds, T, U) memory units' activity at each step (TEM-t: U = T+1 memory neurons,
    # zero before a neuron's memory is stored; TEM: U place cells p)
    memory_activity: np.ndarray | None = None

    def curve(self, bins: int = 20) -> dict[str, np.ndarray]:
        """Fraction correct vs fraction of nodes visited, for the model and both agents.

        Steps are binned by the fraction of nodes visited before the prediction, in ``bins``
        equal bins over (0, 1]; bins with no step are NaN.
        """
        bins = check_int("bins", bins, minimum=1)
        edges = np.linspace(0.0, 1.0, bins + 1)
        which = np.clip(np.digitize(self.fraction_visited.ravel(), edges[1:-1], right=True),
                        0, bins - 1)
        count = np.bincount(which, minlength=bins).astype(np.float64)

        def mean(values: np.ndarray) -> np.ndarray:
            sums = np.bincount(which, weights=values.ravel().astype(np.float64), minlength=bins)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(count > 0, sums / np.maximum(count, 1), np.nan)

        return {"fraction_visited": 0.5 * (edges[1:] + edges[:-1]), "count": count,
                "model": mean(self.correct), "node_agent": mean(self.node_agent),
                "edge_agent": mean(self.edge_agent)}

    def metrics(self, *, bins: int = 20, min_count: int = 20) -> dict[str, float]:
        """The flat metrics (``accuracy_visited``, ``accuracy_link_inference``, curve gap...).

        ``max_gap_to_node_agent_after_half`` is the largest ``|node agent - model|`` over the
        curve bins whose centre is >= 0.5 and that hold at least ``min_count`` steps.
        """
        curve = self.curve(bins)
        late = (curve["fraction_visited"] >= 0.5) & (curve["count"] >= min_count)
        gaps = np.abs(curve["node_agent"] - curve["model"])[late]

        def frac(mask: np.ndarray) -> float:
            return float(self.correct[mask].mean()) if mask.any() else float("nan")

        return {
            "accuracy": float(self.correct.mean()),
            "accuracy_visited": frac(self.visited),
            "accuracy_unvisited": frac(~self.visited),
            "accuracy_link_inference": frac(self.link_inference),
            "node_agent_accuracy": float(self.node_agent.mean()),
            "edge_agent_accuracy": float(self.edge_agent.mean()),
            "edge_agent_link_inference": float(self.edge_agent[self.link_inference].mean())
            if self.link_inference.any() else float("nan"),
            "max_gap_to_node_agent_after_half": float(gaps.max()) if gaps.size
            else float("nan"),
            "n_steps": int(self.correct.size),
            "n_steps_visited": int(self.visited.sum()),
            "n_steps_link_inference": int(self.link_inference.sum()),
            "final_fraction_visited": float(self.fraction_visited[:, -1].mean()),
        }


def default_eval_steps(world: World, walk_factor: float = 6.0) -> int:
    """Walk length used by :func:`evaluate` by default: ``walk_factor`` steps per node."""
    return max(1, round(walk_factor * world.n_nodes))


@torch.no_grad()
def evaluate(model: WalkModel, world: World | str, *, n_worlds: int = 16,
             steps: int | None = None, window: int = 50, repeat_bias: float = 0.25,
             starts: Sequence[int] | None = None, record: bool = False,
             memory_units: Sequence[int] | None = None, seed: SeedLike = 0) -> Evaluation:
    """Run ``model`` on ``n_worlds`` fresh worlds of one structure and score every step.

    Parameters
    ----------
    model
        A trained :class:`~models.tem.WalkModel`.
    world
        The structure: a :class:`~models.worlds.World` or a spec such as ``"square:8x8"``.
        Every walk gets its own freshly sampled symbols.
    n_worlds
        Number of worlds (walks), run as one batch.
    steps
        Walk length (default: 6 steps per node, :func:`default_eval_steps`).
    window
        Steps per forward call (evaluation only; does not change the result).
    repeat_bias
        Walk bias to repeat the last action.
    starts
        Start node of each walk (default: uniform).
    record
        Keep the position code and memory-neuron activities (for rate maps).
    memory_units
        With ``record``: keep the activity of these memory units only (TEM-t: memory neuron
        ``tau`` is the memory stored at step ``tau``; zero before it exists), in this order.
        Default: all (for TEM-t a ``(n_worlds, T, T+1)`` array, large for long walks).
    seed
        Seed of the symbols and walks.
    """
    if not isinstance(model, WalkModel):
        raise TypeError(f"model must be a TEM or TEM-t model, got {type(model).__name__}")
    if isinstance(world, str):
        world = parse_world(world, n_symbols=model.n_symbols, seed=child_seed(seed, "world"))
    if not isinstance(world, World):
        raise TypeError(f"world must be a World or a spec string, got {type(world).__name__}")
    if world.n_actions != model.n_actions:
        raise ValueError(f"world: a {world.kind} world has {world.n_actions} actions "
                         f"({', '.join(world.action_names)}) but the model was trained with "
                         f"{model.n_actions}; use a checkpoint trained on {world.kind} worlds")
    if world.n_symbols != model.n_symbols:
        raise ValueError(f"world has {world.n_symbols} symbols, the model predicts "
                         f"{model.n_symbols}")
    n_worlds = check_int("n_worlds", n_worlds, minimum=1)
    steps = default_eval_steps(world) if steps is None else check_int("steps", steps, minimum=1)
    window = check_int("window", window, minimum=1)
    record = check_bool("record", record)
    units = None
    if memory_units is not None:
        units = torch.as_tensor(np.asarray(memory_units, dtype=np.int64))
        if units.dim() != 1 or (units.numel() and int(units.min()) < 0):
            raise ValueError("memory_units must be a 1-d sequence of non-negative indices")
    worlds = [world.with_observations(child_seed(seed, "symbols", b)) for b in range(n_worlds)]
    batch = batch_walks(worlds, steps, repeat_bias=repeat_bias, starts=starts,
                        seed=child_seed(seed, "walks"), device=model.device)
    acts, obs = batch["actions"], batch["observations"]
    was_training = model.training
    model.eval()
    state = model.begin(obs[:, 0])
    hits, positions, weights = [], [], []
    for t0 in range(0, steps, window):
        sl = slice(t0, t0 + window)
        output = model(state, acts[:, sl], obs[:, t0 + 1:t0 + 1 + window], record=record)
        state = output.state
        hits.append((output.logits.argmax(-1) == obs[:, t0 + 1:t0 + 1 + window]).cpu())
        if record:
            positions.append(output.record["position"].cpu())
            if "memory_activity" in output.record:
                act = output.record["memory_activity"].cpu()
                if units is not None:  # pad to the largest index, then pick the columns
                    need = int(units.max()) + 1 if units.numel() else 0
                    if act.shape[2] < need:
                        act = torch.nn.functional.pad(act, (0, need - act.shape[2]))
                    act = act[:, :, units]
                weights.append(act)
    model.train(was_training)
    nodes = batch["nodes"].cpu().numpy()
    walks = [Walk(nodes=nodes[b], actions=acts[b].cpu().numpy(),
                  observations=obs[b].cpu().numpy()) for b in range(n_worlds)]
    ev = Evaluation(
        world=worlds[0], correct=torch.cat(hits, dim=1).numpy(),
        visited=np.stack([visited_before(w) for w in walks]),
        link_inference=np.stack([link_inference_mask(w) for w in walks]),
        node_agent=np.stack([node_agent(w, model.n_symbols) for w in walks]),
        edge_agent=np.stack([edge_agent(w, model.n_symbols) for w in walks]),
        fraction_visited=np.stack([fraction_visited(w, world.n_nodes) for w in walks]),
        nodes=nodes)
    if record:
        first = _initial_positions(model, obs[:, 0])
        ev.positions = torch.cat([first.unsqueeze(1), torch.cat(positions, dim=1)], 1).numpy()
        if weights:
            units = max(w.shape[2] for w in weights)
            padded = torch.zeros(n_worlds, steps, units)
            t = 0
            for w in weights:
                padded[:, t:t + w.shape[1], :w.shape[2]] = w
                t += w.shape[1]
            ev.memory_activity = padded.numpy()
    return ev


def _initial_positions(model: WalkModel, first_obs: torch.Tensor) -> torch.Tensor:
    """The position code of the first node of each walk (for rate maps)."""
    state = model.begin(first_obs)
    return model.state_position(state).detach().cpu()
