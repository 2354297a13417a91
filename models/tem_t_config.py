r"""Configuration and state of TEM-t (:class:`models.tem_t.TEMT`).

:class:`TEMTConfig` holds the sizes, position-code parametrisation, memory and training
options (the equations are in :mod:`models.tem_t`); :class:`TEMTState` is the position
code and memory carried from window to window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from models._checks import check_bool, check_choice, check_int, check_real
from models.tem import N_SYMBOLS

__all__ = ["TEMTConfig", "TEMTState"]

_ACTIVATIONS = ("relu_norm", "tanh", "norm", "linear")
_PARAMETRISATIONS = ("dense", "orthogonal", "cyclic")


@dataclass(frozen=True)
class TEMTConfig:
    """Sizes and options of TEM-t (:class:`TEMT`)."""

    n_symbols: int = N_SYMBOLS  # symbols per world (45; SCIENCE.md section 3)
    n_actions: int = 5  # actions incl. stay (square world: stay, N, E, S, W); set from the world
    d_position: int = 64  # size of the position code e (medial entorhinal units)
    d_key: int = 32  # size of keys/queries k = W_e e (Whittington et al. 2022 use one W_e)
    d_value: int = 45  # size of values v = W_x x
    position_activation: Literal["relu_norm", "tanh", "norm", "linear"] = "tanh"  # sigma
    # W_a free, exp(S_a - S_a^T), or circular convolutions of cyclic modules (see docstring)
    transition: Literal["dense", "orthogonal", "cyclic"] = "dense"
    module_sizes: tuple[int, ...] = ()  # P_m of each cyclic module (transition="cyclic");
    # the modules' units, sum of P_m ** module_rank, must equal d_position
    module_rank: int = 1  # R: module m is the group Z_{P_m}^R (1: a ring, 2: a torus)
    kernel_temperature: float = 1.0  # tau of the shift kernels softmax(theta / tau)
    kernel_temperature_final: float | None = None  # tau_end: from step s_H to 2 s_H tau falls
    # geometrically to tau_end (argmax kept: the chosen shifts become exact); None: fixed tau
    kernel_init_scale: float = 1.0  # std of the initial kernel logits theta
    kernel_entropy: float = 0.0  # lambda_H: penalty on the kernels' normalised entropy
    kernel_entropy_start: int = 0  # s_H: no entropy penalty before optimiser step s_H, then
    # a linear ramp to lambda_H over the next s_H steps (lets the loss choose the shifts first)
    key_projection: bool = True  # k = W_e e / |W_e e|; False: k = e / |e| (the code itself)
    module_sharpening: float = 1.0  # gamma: after each step every cyclic module becomes
    # e_m^gamma / sum(e_m^gamma) (1: none; one-hot codes are fixed points)
    module_dropout: float = 0.0  # p_drop: in training, each module is left out of a walk's
    # queries for a window with this probability (cyclic modules, key_projection=False)
    learn_stay: bool = False  # False: the stay action keeps e exactly (e_{t+1} = e_t)
    null_memory: bool = True  # learned null memory: the softmax may attend to nothing
    beta_init: float = 3.0  # initial scale b of beta_t = b log(1 + N_t)
    position_correction: bool = True  # correct e from landmark memories (Whittington 2022)
    correction_beta_init: float = 3.0  # initial scale b_c of the correction softmax
    symbol_match_init: float = 5.0  # initial weight beta_x of the same-symbol term
    transition_regulariser: float = 0.0  # lambda_W: penalty on |W_a - I|^2 (small moves)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        check_int("n_symbols", self.n_symbols, minimum=2)
        check_int("n_actions", self.n_actions, minimum=2)
        check_int("d_position", self.d_position, minimum=2)
        check_int("d_key", self.d_key, minimum=1)
        check_int("d_value", self.d_value, minimum=1)
        check_choice("position_activation", self.position_activation, _ACTIVATIONS)
        check_choice("transition", self.transition, _PARAMETRISATIONS)
        check_bool("learn_stay", self.learn_stay)
        check_bool("null_memory", self.null_memory)
        check_real("beta_init", self.beta_init, minimum=0.0, strict_minimum=True)
        check_bool("position_correction", self.position_correction)
        check_bool("key_projection", self.key_projection)
        check_real("correction_beta_init", self.correction_beta_init, minimum=0.0,
                   strict_minimum=True)
        check_real("symbol_match_init", self.symbol_match_init)
        check_real("transition_regulariser", self.transition_regulariser, minimum=0.0)
        check_real("kernel_temperature", self.kernel_temperature, minimum=0.0,
                   strict_minimum=True)
        if self.kernel_temperature_final is not None:
            check_real("kernel_temperature_final", self.kernel_temperature_final, minimum=0.0,
                       strict_minimum=True)
            if self.transition != "cyclic":
                raise ValueError(f"kernel_temperature_final: only used with "
                                 f"transition='cyclic', not {self.transition!r}")
        check_real("kernel_init_scale", self.kernel_init_scale, minimum=0.0)
        check_real("kernel_entropy", self.kernel_entropy, minimum=0.0)
        check_int("kernel_entropy_start", self.kernel_entropy_start, minimum=0)
        if not isinstance(self.module_sizes, tuple):
            raise TypeError(f"module_sizes must be a tuple of ints, got {self.module_sizes!r}")
        for i, size in enumerate(self.module_sizes):
            check_int(f"module_sizes[{i}]", size, minimum=2)
        check_int("module_rank", self.module_rank, minimum=1, maximum=2)
        check_real("module_sharpening", self.module_sharpening, minimum=1.0)
        if self.module_sharpening != 1.0 and self.transition != "cyclic":
            raise ValueError(f"module_sharpening: only used with transition='cyclic', not "
                             f"{self.transition!r}")
        if check_real("module_dropout", self.module_dropout, minimum=0.0) >= 1.0:
            raise ValueError(f"module_dropout must be below 1 (the probability of leaving a "
                             f"module out), got {self.module_dropout}")
        if self.module_dropout and (self.transition != "cyclic" or self.key_projection
                                    or self.position_correction):
            raise ValueError("module_dropout: needs cyclic modules whose keys are the code "
                             "itself, without landmark correction (transition='cyclic', "
                             "key_projection=False, position_correction=False)")
        if self.transition == "cyclic":
            if not self.module_sizes:
                raise ValueError("module_sizes: transition='cyclic' needs the phases of each "
                                 "module, e.g. module_sizes=(5, 7, 9, 11)")
            if sum(self.module_units) != self.d_position:
                what = "phases" if self.module_rank == 1 else "units (P_m ** module_rank)"
                raise ValueError(f"module_sizes: the modules' {what} sum to "
                                 f"{sum(self.module_units)}, but d_position is "
                                 f"{self.d_position}; they must be equal")
        elif self.module_sizes:
            raise ValueError(f"module_sizes: only used with transition='cyclic', not "
                             f"{self.transition!r}")
        elif self.module_rank != 1:
            raise ValueError(f"module_rank: only used with transition='cyclic', not "
                             f"{self.transition!r}")

    @property
    def module_units(self) -> tuple[int, ...]:
        """Units of each cyclic module, :math:`P_m^R` (``module_rank`` = :math:`R`)."""
        return tuple(P ** self.module_rank for P in self.module_sizes)


@dataclass
class TEMTState:
    """TEM-t state of a batch of ``B`` walks.

    Attributes
    ----------
    position
        ``(B, d_position)`` current position code :math:`e_t`.
    keys
        ``(B, N, d_key)`` keys of the ``N`` memories stored so far (one per step).
    values
        ``(B, N, d_value)`` their values.
    positions
        ``(B, N, d_position)`` the position code stored with each memory (read by the
        landmark correction).
    symbols
        ``(B, N)`` the symbol of each memory.
    """

    position: torch.Tensor
    keys: torch.Tensor
    values: torch.Tensor
    positions: torch.Tensor
    symbols: torch.Tensor

    @property
    def n_memories(self) -> int:
        """Number of memories stored (steps seen)."""
        return int(self.keys.shape[1])

