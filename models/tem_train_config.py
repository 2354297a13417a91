r"""Training configuration of TEM and TEM-t, and the models it builds.

:class:`TrainConfig` holds the protocol of :mod:`models.tem_training` (episodes, windows,
learning-rate schedule, checkpoint interval); :func:`build_model` makes a fresh model of a
type in :data:`MODEL_TYPES`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from models._checks import check_device, check_int, check_real
from models.seeding import SeedLike
from models.tem import WalkModel
from models.tem_hebbian import TEM, TEMConfig
from models.tem_t import TEMT, TEMTConfig
from models.worlds import check_world_specs, parse_world

__all__ = [
    "MODEL_TYPES",
    "TrainConfig",
    "build_model",
    "complete_saved_train_config",
    "train_config_for_worlds",
]


#: model type -> (model class, config class)
MODEL_TYPES: dict[str, tuple[type[WalkModel], type]] = {
    "tem-t": (TEMT, TEMTConfig),
    "tem": (TEM, TEMConfig),
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
        check_world_specs("worlds", self.worlds)
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


def complete_saved_train_config(data: dict[str, Any]) -> dict[str, Any]:
    """A saved :class:`TrainConfig` (plain dict) with the model fields it predates filled in.

    Each model table (``tem_t``, ``tem``) whose config class has ``complete_saved`` (e.g.
    :meth:`TEMConfig.complete_saved`) gets the old meaning of the fields added after it was
    saved, so that the dict describes the run as it was trained.
    """
    out = dict(data)
    for f in dataclasses.fields(TrainConfig):
        complete = getattr(type(_field_default(f)), "complete_saved", None)
        if callable(complete) and isinstance(out.get(f.name), dict):
            out[f.name] = complete(out[f.name])
    return out


def _field_default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


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



def build_model(model_type: str, config: Any, *, seed: SeedLike = 0,
                device: torch.device | str | None = None) -> WalkModel:
    """A fresh model of ``model_type`` (``"tem-t"`` or ``"tem"``) with ``config``."""
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be one of {', '.join(map(repr, MODEL_TYPES))}, "
                         f"got {model_type!r}")
    cls, _ = MODEL_TYPES[model_type]
    return cls(config, seed=seed, device=device)

