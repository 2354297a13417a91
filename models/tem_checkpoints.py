r"""TEM and TEM-t checkpoints: atomic save, safe load, export, shipped pretrained models.

A checkpoint holds plain data only and is read with ``torch.load(weights_only=True)``;
anything else is refused with a ``ValueError`` (see :mod:`models.tem_training`).
"""

from __future__ import annotations

import numbers
import pickle
import re
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from models._checks import check_bool
from models.config import from_dict, to_dict
from models.rundir import atomic_path
from models.tem import WalkModel
from models.tem_train_config import MODEL_TYPES, build_model, complete_saved_train_config

if TYPE_CHECKING:
    from models.worlds import World

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_NAME",
    "CHECKPOINT_VERSION",
    "DEFAULT_CHECKPOINTS",
    "NAMED_CHECKPOINTS",
    "NAMED_TEM_CHECKPOINTS",
    "Checkpoint",
    "check_world_actions",
    "default_checkpoint_path",
    "export_checkpoint",
    "load_checkpoint",
    "load_model",
    "named_checkpoint_path",
    "shipped_checkpoints",
]


CHECKPOINT_FORMAT = "memcircuits-tem-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"


#: world kind -> file name of the shipped pretrained TEM-t checkpoint (models/checkpoints/)
DEFAULT_CHECKPOINTS: dict[str, str] = {
    "square": "tem_t_default.pt",
    "hexagonal": "tem_t_hex.pt",
    "line": "tem_t_line.pt",  # cyclic modules: exact path integration, transitive inference
    "family_tree": "tem_t_tree.pt",
}

#: checkpoint name -> world kind -> file in models/checkpoints/ ("cyclic": TEM-t with cyclic
#: grid modules, whose learned shifts drive the spiking MEC; see models/checkpoints/README.md)
NAMED_CHECKPOINTS: dict[str, dict[str, str]] = {
    "default": DEFAULT_CHECKPOINTS,
    "cyclic": {"square": "tem_t_cyclic.pt"},  # no hexagonal one: see the README there
    # toroidal modules learned on hexagonal worlds: triangular grid cells
    "torus": {"hexagonal": "tem_t_torus_hex.pt"},
}

#: the same for TEM (Hebbian memory): checkpoint name -> world kind -> file
NAMED_TEM_CHECKPOINTS: dict[str, dict[str, str]] = {
    "default": {"square": "tem_default.pt"},
}


def shipped_checkpoints(model_type: str = "tem-t") -> dict[str, dict[str, str]]:
    """The shipped checkpoints of a model type: name -> world kind -> file."""
    if model_type not in ("tem-t", "tem"):
        raise ValueError(f"model_type must be 'tem-t' or 'tem', got {model_type!r}")
    return NAMED_CHECKPOINTS if model_type == "tem-t" else NAMED_TEM_CHECKPOINTS

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


def check_world_actions(ckpt: Checkpoint, world: World, spec: str) -> None:
    """Refuse a world whose actions are not those ``ckpt`` was trained with.

    Raises
    ------
    ValueError
        ``"<file> was trained on <kind> worlds (actions ...); <spec> is a <kind> world
        (actions ...): use a checkpoint trained on <kind> worlds"``; callers prefix it with
        what names the checkpoint (``checkpoint``, ``tem:``).
    """
    if tuple(ckpt.action_names) != tuple(world.action_names):
        raise ValueError(f"{ckpt.path.name} was trained on {ckpt.world_kind} worlds (actions "
                         f"{', '.join(ckpt.action_names)}); {spec} is a {world.kind} world "
                         f"(actions {', '.join(world.action_names)}): use a checkpoint trained "
                         f"on {world.kind} worlds")


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
    """Check every field of a loaded checkpoint ``payload``.

    Raises one ``ValueError`` naming the first missing or ill-typed one.
    """
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
    saved_config = payload["model_config"]
    complete = getattr(config_cls, "complete_saved", None)
    if callable(complete):  # fields added after it was saved take their old meaning
        saved_config = complete(saved_config)
    try:
        model_config = from_dict(config_cls, saved_config, where="model_config")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint: {path} field 'model_config' is not a valid "
                         f"{config_cls.__name__} ({_first_line(exc)})") from None
    state = payload["model_state"]
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ValueError(f"checkpoint: {path} field 'model_state' must be a dict of tensors "
                         f"by parameter name")
    diverged = [k for k, v in state.items() if v.is_floating_point() and not bool(
        torch.isfinite(v).all())]
    if diverged:
        raise ValueError(f"checkpoint: {path} holds non-finite parameters ("
                         f"{', '.join(diverged[:3])}{', ...' if len(diverged) > 3 else ''}): "
                         f"the training that wrote it diverged, so it can be neither used nor "
                         f"resumed")
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
    fields["train_config"] = complete_saved_train_config(fields["train_config"])
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


def named_checkpoint_path(name: str, world_kind: str = "square",
                          model_type: str = "tem-t") -> Path:
    """Path of the shipped checkpoint ``name`` of ``model_type`` for worlds of ``world_kind``.

    ``name`` is a key of :data:`NAMED_CHECKPOINTS` (TEM-t) or :data:`NAMED_TEM_CHECKPOINTS`
    (TEM).

    Raises
    ------
    ValueError
        For an unknown name, or a name with no shipped file for ``world_kind``.
    """
    named = shipped_checkpoints(model_type)
    model = "" if model_type == "tem-t" else "TEM "
    if name not in named:
        raise ValueError(f"checkpoint: no shipped {model}checkpoint called {name!r}; there "
                         f"are: {', '.join(named)} (or give a path)")
    files = named[name]
    directory = Path(__file__).resolve().parent / "checkpoints"
    path = directory / files.get(world_kind, "")
    if world_kind not in files or not path.is_file():
        shipped = [kind for kind, file in files.items() if (directory / file).is_file()]
        raise ValueError(f"checkpoint: no shipped {model}{name!r} checkpoint for "
                         f"{world_kind!r} worlds (only for "
                         f"{', '.join(map(repr, shipped)) or 'no'} worlds)")
    return path


def load_model(checkpoint: str | Path = "default", *, expected_type: str | None = None,
               world_kind: str = "square",
               device: torch.device | str | None = None) -> tuple[WalkModel, Checkpoint]:
    """Load a model from a checkpoint path, or a shipped one by name.

    Names: ``"default"`` (the pretrained TEM-t for ``world_kind``), ``"cyclic"`` (TEM-t with cyclic
    grid modules, square worlds) or ``"torus"`` (toroidal grid modules, hexagonal worlds);
    with ``expected_type="tem"`` the names are TEM's (``"default"``: square worlds).

    Returns
    -------
    (WalkModel, Checkpoint)
        The model in evaluation mode on ``device`` and its checkpoint record.
    """
    named = shipped_checkpoints(expected_type or "tem-t")
    if isinstance(checkpoint, str) and checkpoint == "default" and named is NAMED_CHECKPOINTS:
        checkpoint = default_checkpoint_path(world_kind)
    elif isinstance(checkpoint, str) and checkpoint in named:
        checkpoint = named_checkpoint_path(checkpoint, world_kind, expected_type or "tem-t")
    elif isinstance(checkpoint, str) and not Path(checkpoint).exists():
        raise FileNotFoundError(f"checkpoint: no such file {checkpoint} (and not a shipped "
                                f"checkpoint name: {', '.join(named)})")
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
    """The dict a checkpoint file holds, plain data only (:func:`_plain`).

    So that ``torch.load(weights_only=True)`` reads back every checkpoint written here.
    """
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

