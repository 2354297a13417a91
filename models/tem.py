r"""Shared pieces of the Tolman-Eichenbaum Machine (TEM) and its transformer form (TEM-t).

Both models walk a graph world (:mod:`models.worlds`) and predict, before every step's
observation arrives, which of the ``n_symbols`` (45) symbols the agent will see next. Both
split the problem the same way (SCIENCE.md section 3):

- a **position code** (medial entorhinal cortex: ``g`` in TEM, ``e`` in TEM-t) that is
  path-integrated from the actions alone and is shared by every world of a kind;
- a **memory** (hippocampus) that binds positions to the symbols seen there, written afresh
  in every world; prediction is retrieval of the symbol stored at the current position.

This module holds what the two share: the protocol of a *walk model* (how a walk is cut into
truncated-backprop windows and fed through a model), the symbol codes (one-hot; TEM's
two-hot compression), the argument checks of a walk, and the window output record. The models
are :class:`models.tem_t.TEMT` and :class:`models.tem_hebbian.TEM`; training, checkpoints and
evaluation live in :mod:`models.tem_training`.

Walk convention
---------------
A walk of ``T`` actions has observations :math:`x_0, \dots, x_T` and actions
:math:`a_0, \dots, a_{T-1}` (action :math:`a_t` leads from the node of :math:`x_t` to the node
of :math:`x_{t+1}`). A model first sees :math:`x_0` (:meth:`WalkModel.begin`), then for every
step :math:`t` it path-integrates :math:`a_t`, predicts :math:`x_{t+1}` from memory (logits
over symbols), and only then stores :math:`x_{t+1}`. :meth:`WalkModel.forward` runs a window of
``W`` such steps; the state it returns (position code and memory) carries over to the next
window, detached (:meth:`WalkModel.detach_state`) in truncated backpropagation through time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from models._checks import as_tensor, check_int

__all__ = [
    "N_SYMBOLS",
    "WalkModel",
    "WindowOutput",
    "check_window",
    "two_hot_table",
]

N_SYMBOLS = 45  # symbols per world (TEM: 45 sensory observations; SCIENCE.md section 3)


def two_hot_table(n_symbols: int = N_SYMBOLS, n_code: int = 10, *,
                  device: torch.device | str | None = None,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    r"""TEM's compressed sensory code: a distinct two-hot vector of length ``n_code`` per symbol.

    There are :math:`\binom{n_\mathrm{code}}{2}` two-hot codes (45 for ``n_code = 10``, which is
    why TEM worlds have 45 symbols). Symbol :math:`s` gets the :math:`s`-th pair :math:`(i, j)`,
    :math:`i < j`, in lexicographic order: :math:`c_s = e_i + e_j`.

    Returns
    -------
    torch.Tensor
        ``(n_symbols, n_code)`` with exactly two ones per row, all rows distinct.
    """
    n_symbols = check_int("n_symbols", n_symbols, minimum=1)
    n_code = check_int("n_code", n_code, minimum=2)
    pairs = [(i, j) for i in range(n_code) for j in range(i + 1, n_code)]
    if n_symbols > len(pairs):
        raise ValueError(f"n_code={n_code} gives only {len(pairs)} two-hot codes, fewer than "
                         f"n_symbols={n_symbols}; use n_code >= "
                         f"{math.ceil((1 + math.sqrt(1 + 8 * n_symbols)) / 2)}")
    table = torch.zeros(n_symbols, n_code, device=device, dtype=dtype)
    for s, (i, j) in enumerate(pairs[:n_symbols]):
        table[s, i] = 1.0
        table[s, j] = 1.0
    return table


def check_window(actions: Any, observations: Any, *, n_actions: int, n_symbols: int,
                 batch: int | None = None,
                 device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Check one window of a batch of walks and return it as long tensors on ``device``.

    Parameters
    ----------
    actions
        ``(B, W)`` integer actions in ``[0, n_actions)`` (0 = stay).
    observations
        ``(B, W)`` integer symbols in ``[0, n_symbols)``: the observations *reached* by the
        actions (``observations[:, t]`` follows ``actions[:, t]``).
    n_actions, n_symbols
        The model's action and symbol counts.
    batch
        Required batch size (that of the state), or ``None``.

    Raises
    ------
    ValueError
        Naming ``actions`` or ``observations`` for a wrong shape or an out-of-range entry.
    TypeError
        For non-integer entries.
    """
    out = []
    for name, value, upper in (("actions", actions, n_actions),
                               ("observations", observations, n_symbols)):
        tensor = as_tensor(name, value)
        if tensor.dtype.is_floating_point or tensor.dtype == torch.bool or tensor.is_complex():
            raise TypeError(f"{name} must hold integers, got dtype {tensor.dtype}")
        if tensor.dim() != 2:
            raise ValueError(f"{name} must be a (batch, steps) matrix, got shape "
                             f"{tuple(tensor.shape)}")
        if tensor.numel() and (int(tensor.min()) < 0 or int(tensor.max()) >= upper):
            raise ValueError(f"{name} must lie in [0, {upper}), got values in "
                             f"[{int(tensor.min())}, {int(tensor.max())}]")
        out.append(tensor.to(device=device, dtype=torch.long) if device is not None
                   else tensor.long())
    if out[0].shape != out[1].shape:
        raise ValueError(f"observations must have the shape of actions {tuple(out[0].shape)}, "
                         f"got {tuple(out[1].shape)}")
    if batch is not None and out[0].shape[0] != batch:
        raise ValueError(f"actions must have batch size {batch} (that of the state), got "
                         f"{out[0].shape[0]}")
    return out[0], out[1]


@dataclass
class WindowOutput:
    """What a walk model returns for one window of ``W`` steps of a batch of ``B`` walks.

    Attributes
    ----------
    logits
        ``(B, W, n_symbols)`` prediction of each step's observation, made before it was seen.
    loss
        Scalar training loss of the window (cross-entropy plus the model's other terms).
    state
        The model state after the window (feed it to the next window).
    terms
        Named scalar parts of ``loss`` (detached floats), for logging.
    record
        Optional tensors for analysis (``record=True``): ``"position"`` ``(B, W, d)`` is the
        position code at each step and ``"memory_activity"`` ``(B, W, U)`` the memory units'
        activity (TEM-t: the memory neurons' softmax weights over the ``U`` memories stored
        so far; TEM: the inferred place code ``p``).
    """

    logits: torch.Tensor
    loss: torch.Tensor
    state: Any
    terms: dict[str, float] = field(default_factory=dict)
    record: dict[str, torch.Tensor] = field(default_factory=dict)


class WalkModel(nn.Module):
    """Interface of TEM and TEM-t: begin a batch of walks, then run windows of steps.

    Subclasses set :attr:`model_type` and :attr:`config` (a frozen dataclass with ``n_actions``
    and ``n_symbols``), and implement :meth:`begin`, :meth:`forward` and
    :meth:`detach_state`. :meth:`set_progress` lets a model ramp parts of its loss or memory
    in over training (TEM does; TEM-t does not).
    """

    model_type: ClassVar[str] = ""
    config: Any

    @property
    def n_actions(self) -> int:
        """Number of actions the model knows, stay included."""
        return int(self.config.n_actions)

    @property
    def n_symbols(self) -> int:
        """Number of symbols the model predicts."""
        return int(self.config.n_symbols)

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return next(self.parameters()).device

    @property
    def trains_on_visited_only(self) -> bool:
        """Whether :meth:`forward` takes ``visited=`` to put its losses on revisits only.

        ``visited`` ``(B, W)`` bool (TEM with ``train_on_visited_states_only``); ``False`` here.
        """
        return False

    def begin(self, observations: Any) -> Any:  # pragma: no cover - interface
        """State of a new batch of walks after seeing their first observations ``(B,)``."""
        raise NotImplementedError

    def forward(self, state: Any, actions: Any, observations: Any, *,
                record: bool = False) -> WindowOutput:  # pragma: no cover - interface
        """Run one window; see :class:`WindowOutput`."""
        raise NotImplementedError

    def detach_state(self, state: Any) -> Any:  # pragma: no cover - interface
        """The state with every tensor detached (truncated backprop through time)."""
        raise NotImplementedError

    def state_position(self, state: Any) -> torch.Tensor:  # pragma: no cover - interface
        """``(B, d)`` the position code (``e`` or ``g``) held in ``state``."""
        raise NotImplementedError

    def set_progress(self, step: int) -> None:
        """Tell the model how many optimiser steps have been taken (for ramped terms)."""
        del step

    def check_window(self, state_batch: int, actions: Any,
                     observations: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`check_window` with this model's sizes and device."""
        return check_window(actions, observations, n_actions=self.n_actions,
                            n_symbols=self.n_symbols, batch=state_batch, device=self.device)

    def check_first(self, observations: Any) -> torch.Tensor:
        """Check the first observations ``(B,)`` of a batch of walks."""
        tensor = as_tensor("observations", observations)
        if tensor.dtype.is_floating_point or tensor.dtype == torch.bool or tensor.is_complex():
            raise TypeError(f"observations must hold integers, got dtype {tensor.dtype}")
        if tensor.dim() != 1 or tensor.shape[0] < 1:
            raise ValueError(f"observations must be a (batch,) vector of first observations, "
                             f"got shape {tuple(tensor.shape)}")
        if int(tensor.min()) < 0 or int(tensor.max()) >= self.n_symbols:
            raise ValueError(f"observations must lie in [0, {self.n_symbols}), got values in "
                             f"[{int(tensor.min())}, {int(tensor.max())}]")
        return tensor.to(device=self.device, dtype=torch.long)
