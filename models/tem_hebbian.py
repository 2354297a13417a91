r"""TEM: the Tolman-Eichenbaum Machine with a Hebbian attractor memory (Whittington et al. 2020).

A simplified but faithful PyTorch form of TEM (Cell 2020; the PyTorch port
github.com/jbakermans/torch_tem), run with the same walk protocol as TEM-t
(:mod:`models.tem`, :mod:`models.tem_training`). SCIENCE.md section 3 gives the equations.

Structural code :math:`g` (medial entorhinal cortex)
----------------------------------------------------
:math:`F` modules (default 5, sizes 30/30/24/18/18), path-integrated with action-dependent
transition matrices (zero for "stay"), clamped:

.. math:: g^\mathrm{gen}_{t+1} = \mathrm{clip}\!\left(g_t + D_{a_t} g_t,\, -1,\, 1\right)

:math:`D_a` is masked hierarchically: module :math:`f` receives only from modules of lower or
equal frequency (TEM's ``g_connections``). Only the first ``g_subsampled[f]`` cells of module
:math:`f` (10/10/8/6/6) enter the hippocampal conjunction.

Sensory code :math:`x` (lateral entorhinal cortex)
--------------------------------------------------
The symbol is compressed to a two-hot code :math:`x^c` of length 10
(:func:`models.tem.two_hot_table`), temporally filtered per module with a learned rate
:math:`\alpha_f = \mathrm{sigmoid}(\theta_f)` (initial 0.99, 0.3, 0.09, 0.03, 0.01), and
normalised:

.. math:: x^f_t = (1 - \alpha_f)\, x^f_{t-1} + \alpha_f x^c_t, \qquad
          \tilde x^f_t = \mathrm{sigmoid}(w_f)\,
          \frac{\mathrm{relu}(x^f_t - \overline{x^f_t})}{\lVert \cdot \rVert}

Conjunction :math:`p` (hippocampus) and Hebbian memory
------------------------------------------------------
Per module the place code is the flattened outer product of the subsampled :math:`g` and
:math:`\tilde x`, through TEM's activation :math:`f_p(h) = \mathrm{leaky\_relu}(\mathrm{clip}
(h, -1, 1))`:

.. math:: p_f = f_p\!\left(\mathrm{flatten}(g_f \otimes \tilde x^f)\right), \qquad
          p = [p_1, \dots, p_F]

The generative memory is a matrix :math:`M` per walk, written after every step with TEM's
Hebbian rule (forgetting :math:`\lambda = 0.9999`, rate :math:`\eta = 0.5`), where :math:`p` is
the inferred and :math:`\hat p` the generated (retrieved) place code:

.. math:: M \leftarrow \mathrm{clip}\!\left(\lambda M + \eta\, (p - \hat p)(p + \hat p)^\top
          \odot C,\ -1,\ 1\right)

with :math:`C` the hierarchical connection mask (from low- to high-frequency modules). As in
torch_tem (``common_memory=False``), inference from the observation retrieves from a second,
unmasked memory written with the place code :math:`p^x` it retrieved
(``separate_inference_memory``):

.. math:: M_\mathrm{inf} \leftarrow \mathrm{clip}\!\left(\lambda M_\mathrm{inf} + \eta\,
          (p - p^x)(p + p^x)^\top,\ -1,\ 1\right)

Retrieval runs attractor dynamics from a query :math:`h_0` (``attractor_steps`` iterations,
default 5; in the generative direction module :math:`f` stops after :math:`5 - f` iterations,
TEM's hierarchical retrieval), with :math:`\kappa = 0.8`:

.. math:: h_{k+1} = f_p\!\left(\kappa h_k + M h_k\right)

Generation (the prediction) and inference
-----------------------------------------
- *Prediction* of :math:`x_{t+1}`: query :math:`h_0 = f_p(g^\mathrm{gen}_{t+1} \otimes
  \mathbf{1})`, retrieve from :math:`M`, sum the highest-frequency module over its
  :math:`g` preferences and decompress with an MLP to logits over the 45 symbols.
- *Inference of g from memory* (corrects path-integration drift): query :math:`M_\mathrm{inf}`
  with the observation alone, :math:`h_0 = f_p(\mathbf{1} \otimes \tilde x)`, retrieve
  :math:`p^x`, sum over the sensory preferences and map with an MLP to
  :math:`g^\mathrm{mem}`; the inferred code is the precision-weighted mean of the
  path-integrated and remembered codes,
  :math:`g^\mathrm{inf} = (g^\mathrm{gen}/\sigma_\mathrm{gen}^2 +
  g^\mathrm{mem}/\sigma_\mathrm{mem}^2) / (1/\sigma_\mathrm{gen}^2 + 1/\sigma_\mathrm{mem}^2)`,
  with :math:`\sigma_\mathrm{mem}` from an MLP of two memory-quality measures (how well
  :math:`p^x` reproduces the observation, and :math:`\lVert g^\mathrm{mem} \rVert^2`);
  :math:`p = f_p(g^\mathrm{inf} \otimes \tilde x)` is then written to memory.
- *Generation from the inferred code* (training, torch_tem's ``generative()``): :math:`\hat p`
  is retrieved from :math:`M` with :math:`g^\mathrm{inf}` (``generate_from_inferred_g``).

Losses (TEM's): cross-entropies of the prediction (``x_gen``), of the observation decoded from
:math:`\hat p` (``x_g``) and from the inferred :math:`p` (``x_p``); squared errors
:math:`\lVert p - \hat p\rVert^2` (``p_gen``), :math:`\lVert p - p^x \rVert^2` (``p_x``) and
:math:`\lVert g^\mathrm{inf} - g^\mathrm{gen} \rVert^2` (``g``); and regularisers
:math:`0.01 \lVert g \rVert^2`, :math:`0.02 \lVert p \rVert_1`. Each step's losses are the
mean over the walks whose node was visited before (``train_on_visited_states_only``, as TF2
TEM and torch_tem's ``run.py``: a first visit cannot be predicted), the window's the sum over
steps over the window length. As in TEM, :math:`\eta` and :math:`\lambda`, the latent losses
and the trust in memory-inferred :math:`g` are ramped in over training
(:meth:`TEM.set_progress`), and the regularisers ramped out.

The three options above are the reference TEM and are opt-in (``False`` by default). With
all three off, the default and the first TEM of this project (the shipped
``tem_default.pt``, and every config saved before these options existed:
:meth:`TEMConfig.complete_saved`): one masked memory for generation and inference,
:math:`\hat p` the prediction's own retrieval from :math:`g^\mathrm{gen}` (one retrieval per
step less, no ``x_g``), and losses at every step. Its memory-inferred :math:`g` is barely
used after training (trust 0.004-0.01; the nearest stored code to :math:`g^\mathrm{mem}` is
the right node's 1-6 % of the time); trained with 20-step backprop windows its path
integration drifted uncorrected, and continued with 100-step windows it became nearly exact
over whole walks (:mod:`models.tem_diagnosis`, docs/validation.md). With the three
options on, memory-inferred :math:`g` is used (trust 0.17) but still rarely right, and the
reference TEM trains slower than the first so far (training accuracy on revisits 0.40 against
0.82 at step 5500), so it is not the default.

Simplifications, stated: transition matrices :math:`D_a` are parameters per action rather
than the output of an MLP of the action; :math:`\sigma_\mathrm{gen}` is a learned constant per
cell; no sampling (means only, as torch_tem's default); the first observation of a walk is
written with :math:`\hat p = p^x = 0`; the ``p_x`` loss is not scaled by the trust in memory
(torch_tem's ``1 - p2g_scale_offset``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from models._checks import check_bool, check_choice, check_int, check_real
from models.seeding import SeedLike, torch_generator
from models.tem import N_SYMBOLS, WalkModel, WindowOutput, two_hot_table
from models.tem_attractor import f_p, fused_attractor, fused_hebbian_block

__all__ = ["TEM", "DenseMemory", "MemoryBlocks", "TEMConfig", "TEMState", "attractor",
           "autograd_reference", "f_p", "hebbian_update", "memory_weight"]


@dataclass(frozen=True)
class TEMConfig:
    """Sizes, memory constants and schedules of TEM (:class:`TEM`)."""

    n_symbols: int = N_SYMBOLS  # symbols per world (45)
    n_actions: int = 5  # actions incl. stay (square world); set from the world
    n_compressed: int = 10  # length of the two-hot sensory code x^c (TEM: 10)
    g_sizes: tuple[int, ...] = (30, 30, 24, 18, 18)  # cells per g module (TEM: 30/30/24/18/18)
    g_subsampled: tuple[int, ...] = (10, 10, 8, 6, 6)  # cells of g entering p (TEM)
    frequencies: tuple[float, ...] = (0.99, 0.3, 0.09, 0.03, 0.01)  # initial alpha_f (TEM)
    forgetting: float = 0.9999  # lambda of the Hebbian rule (TEM: 0.9999)
    learning_rate_memory: float = 0.5  # eta of the Hebbian rule (TEM: 0.5)
    kappa: float = 0.8  # attractor retrieval decay (TEM: 0.8)
    attractor_steps: int = 5  # attractor iterations (TEM: one per module)
    hierarchical: bool = True  # low->high frequency memory mask and early-stopped retrieval
    memory_layout: Literal["dense", "blocks"] = "blocks"  # one masked matrix, or its blocks
    decoder_hidden: int = 200  # hidden units of the decompression MLP (TEM: 20 x 10)
    eta_ramp_steps: int = 2000  # steps until eta is fully on (TEM: 16000)
    lambda_ramp_steps: int = 200  # steps until lambda is fully on (TEM: 200)
    latent_ramp_steps: int = 1000  # steps until the p and g losses are fully on (TEM: 2000)
    regulariser_ramp_steps: int = 4000  # steps until the p regulariser is off (TEM: 4000)
    memory_trust_half_step: int = 400  # step at which g from memory gets half trust (TEM: 400)
    memory_trust_width: int = 200  # width of that sigmoid ramp in steps (TEM: 200)
    weight_g_regulariser: float = 0.01  # weight of |g|^2 (TEM: 0.01)
    weight_p_regulariser: float = 0.02  # weight of |p|_1 (TEM: 0.02)
    # Reference TEM (below), opt-in: so far it trains slower than the first TEM (training
    # accuracy on revisits 0.40 against 0.82 at step 5500, docs/validation.md), so the
    # defaults stay the first TEM's; a config saved before these fields existed means False
    # for all three (SAVED_BEFORE_FIELD), as the first checkpoints were trained.
    # Inference from x retrieves from its own memory M_inf, unmasked, written with
    # (p + p^x)(p - p^x)^T (torch_tem model.py iteration()/hebbian(), parameters.py
    # common_memory=False); False: one masked memory serves generation and inference
    separate_inference_memory: bool = False
    # p-hat of the Hebbian rule and of the p loss retrieved from the inferred g^inf, with the
    # x_g loss on its decoding (torch_tem model.py generative(): "generate from *inferred*
    # variables"; TF2 tem_model.py lx_g); False: from the path-integrated g^gen
    generate_from_inferred_g: bool = False
    # losses only at steps whose node was visited before in the walk, each step's mean over
    # those walks (TF2 parameters.py train_on_visited_states_only, tem_model.py compute_losses;
    # torch_tem run.py); False: every step, the mean over all walks
    train_on_visited_states_only: bool = False

    #: values of the fields a config saved before they existed leaves out (checkpoints of the
    #: first, simplified TEM): :meth:`complete_saved` fills them in
    SAVED_BEFORE_FIELD: ClassVar[dict[str, Any]] = {
        "separate_inference_memory": False,
        "generate_from_inferred_g": False,
        "train_on_visited_states_only": False,
    }

    @classmethod
    def complete_saved(cls, data: dict[str, Any]) -> dict[str, Any]:
        """A saved config ``data`` (plain dict) with the fields it predates filled in.

        They take their old meaning (:attr:`SAVED_BEFORE_FIELD`), so that an old checkpoint
        behaves as it was trained.
        """
        return {**{k: v for k, v in cls.SAVED_BEFORE_FIELD.items() if k not in data}, **data}

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        check_int("n_symbols", self.n_symbols, minimum=2)
        check_int("n_actions", self.n_actions, minimum=2)
        n_code = check_int("n_compressed", self.n_compressed, minimum=2)
        if n_code * (n_code - 1) // 2 < self.n_symbols:
            raise ValueError(f"n_compressed={n_code} gives fewer two-hot codes than "
                             f"n_symbols={self.n_symbols}")
        if not self.g_sizes:
            raise ValueError("g_sizes must name at least one module")
        for name in ("g_subsampled", "frequencies"):
            if len(getattr(self, name)) != len(self.g_sizes):
                raise ValueError(f"{name} must have one entry per module "
                                 f"({len(self.g_sizes)}), got {len(getattr(self, name))}")
        for f, (n, s) in enumerate(zip(self.g_sizes, self.g_subsampled, strict=True)):
            check_int(f"g_sizes[{f}]", n, minimum=1)
            check_int(f"g_subsampled[{f}]", s, minimum=1, maximum=n)
        for f, a in enumerate(self.frequencies):
            check_real(f"frequencies[{f}]", a, minimum=0.0, maximum=1.0, strict_minimum=True)
            if a >= 1.0:
                raise ValueError(f"frequencies[{f}] must be < 1, got {a}")
        check_real("forgetting", self.forgetting, minimum=0.0, maximum=1.0)
        check_real("learning_rate_memory", self.learning_rate_memory, minimum=0.0)
        check_real("kappa", self.kappa, minimum=0.0)
        check_int("attractor_steps", self.attractor_steps, minimum=1)
        check_bool("hierarchical", self.hierarchical)
        check_choice("memory_layout", self.memory_layout, ("dense", "blocks"))
        check_int("decoder_hidden", self.decoder_hidden, minimum=1)
        for name in ("eta_ramp_steps", "lambda_ramp_steps", "latent_ramp_steps",
                     "regulariser_ramp_steps", "memory_trust_width"):
            check_int(name, getattr(self, name), minimum=1)
        check_int("memory_trust_half_step", self.memory_trust_half_step, minimum=0)
        check_real("weight_g_regulariser", self.weight_g_regulariser, minimum=0.0)
        check_real("weight_p_regulariser", self.weight_p_regulariser, minimum=0.0)
        for name in self.SAVED_BEFORE_FIELD:
            check_bool(name, getattr(self, name))

    @property
    def n_modules(self) -> int:
        """Number of frequency modules F."""
        return len(self.g_sizes)

    @property
    def p_sizes(self) -> tuple[int, ...]:
        """Place cells per module, ``g_subsampled[f] * n_compressed``."""
        return tuple(s * self.n_compressed for s in self.g_subsampled)


@dataclass
class TEMState:
    r"""TEM state of a batch of ``B`` walks.

    Attributes
    ----------
    g
        ``(B, sum(g_sizes))`` inferred structural code of the current step.
    x_filtered
        ``(B, F, n_compressed)`` temporally filtered sensory code per module.
    memory
        Hebbian memory :math:`M` (``P = sum(p_sizes)`` place cells) as
        :class:`DenseMemory` or :class:`MemoryBlocks` (``memory_layout``);
        ``memory.dense()[b, i, j]`` is the connection from place cell ``i`` to ``j``
        (retrieval is ``h M``, rows). The generative memory, and the inference memory too
        when the config does not separate them.
    inference_memory
        The inference memory :math:`M_\mathrm{inf}` (unmasked) when
        ``separate_inference_memory``, else ``None``.
    """

    g: torch.Tensor
    x_filtered: torch.Tensor
    memory: MemoryBlocks | DenseMemory
    inference_memory: MemoryBlocks | DenseMemory | None = None



def attractor(query: torch.Tensor, memory: torch.Tensor | MemoryBlocks | DenseMemory, *,
              kappa: float,
              steps: int, masks: torch.Tensor | None = None) -> torch.Tensor:
    r"""Attractor retrieval :math:`h_{k+1} = f_p(\kappa h_k + h_k M)` from :math:`h_0 = f_p(q)`.

    Parameters
    ----------
    query
        ``(B, P)`` initial state (before the activation).
    memory
        ``(B, P, P)`` dense memory, connection ``[i, j]`` from unit ``i`` to unit ``j``, or
        the same memory as :class:`MemoryBlocks`.
    kappa
        Decay of the current state.
    steps
        Iterations.
    masks
        Optional ``(steps, P)`` 0/1: units with 0 at iteration ``k`` keep their state
        (TEM's early-stopped retrieval of low-frequency modules).
    """
    h = f_p(query)
    for k in range(steps):
        if isinstance(memory, MemoryBlocks | DenseMemory):
            recalled = memory.retrieve(h)
        else:
            recalled = torch.bmm(h.unsqueeze(1), memory).squeeze(1)
        new = f_p(kappa * h + recalled)
        h = new if masks is None else masks[k] * new + (1 - masks[k]) * h
    return h


def hebbian_update(memory: torch.Tensor, p: torch.Tensor, p_hat: torch.Tensor, *,
                   forgetting: float, rate: float,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""TEM's Hebbian rule on a dense ``(B, P, P)`` memory.

    :math:`M \leftarrow \mathrm{clip}(\lambda M + \eta (p - \hat p) (p + \hat p)^\top \odot C, \pm
    1)`.

    In the row convention of :func:`attractor` (retrieval ``h M``) the outer product is
    :math:`(p + \hat p)^\top (p - \hat p)`: entry ``[i, j]`` is :math:`(p + \hat p)_i
    (p - \hat p)_j`, so a query close to :math:`p` is moved towards :math:`p` and away from the
    wrongly retrieved :math:`\hat p`. This dense form is the reference; :class:`TEM` stores
    the same matrix as :class:`MemoryBlocks` (only the blocks the mask allows).
    """
    if mask is None:  # lambda M + eta (p + p_hat)^T (p - p_hat) in one product
        new = torch.baddbmm(memory, (p + p_hat).unsqueeze(2), (p - p_hat).unsqueeze(1),
                            beta=forgetting, alpha=rate)
    else:
        delta = (p + p_hat).unsqueeze(2) * (p - p_hat).unsqueeze(1)  # (B, P, P)
        new = forgetting * memory + rate * (delta * mask)
    return torch.clamp(new, -1.0, 1.0)


@dataclass
class MemoryBlocks:
    """A masked Hebbian memory stored as the column blocks its mask allows.

    Column block ``j`` holds the connections *to* the place cells of module ``j`` from the
    cells ``rows[j]`` (the modules allowed to project to it: lower or equal frequency), shape
    ``(B, len(rows[j]), P_j)``. Masked-out connections are not stored, which saves memory
    traffic (the hierarchical mask keeps about 60 % of the matrix) and the mask multiply.
    :meth:`dense` rebuilds the full ``(B, P, P)`` matrix.
    """

    blocks: list[torch.Tensor]
    # source units of block j: a (n_rows_j,) long index, or a slice when they are contiguous
    rows: list[torch.Tensor | slice]
    bounds: list[tuple[int, int]]  # [start, stop) of the units of module j

    def retrieve(self, h: torch.Tensor) -> torch.Tensor:
        """``h M`` for ``h`` ``(B, P)``."""
        return torch.cat([torch.bmm(h[:, r].unsqueeze(1), m).squeeze(1)
                          for r, m in zip(self.rows, self.blocks, strict=True)], dim=-1)

    def attract(self, query: torch.Tensor, *, kappa: float, masks: torch.Tensor) -> torch.Tensor:
        """:func:`attractor` on this memory as one autograd node.

        ``query`` ``(B, P)`` with ``masks`` ``(K, P)``, or several queries retrieved together,
        ``(B, Q, P)`` with ``masks`` ``(Q, K, P)``
        (:func:`models.tem_attractor.fused_attractor`: the same values to rounding, one read
        of the memory per iteration for all queries, and much less gradient traffic).
        Inside :func:`autograd_reference`, :func:`attractor` one query at a time.
        """
        if _REFERENCE:
            return _reference_attract(self, query, kappa=kappa, masks=masks)
        return fused_attractor(query, self.blocks, self.rows, self.bounds, kappa=kappa,
                               masks=masks)

    def update(self, p: torch.Tensor, p_hat: torch.Tensor, *, forgetting: float,
               rate: float) -> MemoryBlocks:
        """The memory after :func:`hebbian_update` (same rule, block by block)."""
        a, b = p + p_hat, p - p_hat
        blocks = [_hebbian_block(m, a[:, r].unsqueeze(2), b[:, s:e].unsqueeze(1),
                                 beta=forgetting, alpha=rate)
                  for m, r, (s, e) in zip(self.blocks, self.rows, self.bounds, strict=True)]
        return MemoryBlocks(blocks=blocks, rows=self.rows, bounds=self.bounds)

    @staticmethod
    def contiguous(rows: torch.Tensor) -> torch.Tensor | slice:
        """``rows`` as a slice when it is a run of consecutive indices (a view, no copy)."""
        if rows.numel() and int(rows[-1]) - int(rows[0]) + 1 == rows.numel():
            return slice(int(rows[0]), int(rows[-1]) + 1)
        return rows

    def detach(self) -> MemoryBlocks:
        """The memory with every block detached."""
        return MemoryBlocks(blocks=[m.detach() for m in self.blocks], rows=self.rows,
                            bounds=self.bounds)

    def dense(self) -> torch.Tensor:
        """The full ``(B, P, P)`` matrix (zeros where the mask forbids a connection)."""
        B = self.blocks[0].shape[0]
        P = self.bounds[-1][1]
        out = self.blocks[0].new_zeros(B, P, P)
        for m, r, (s, e) in zip(self.blocks, self.rows, self.bounds, strict=True):
            out[:, r, s:e] = m
        return out


@dataclass
class DenseMemory:
    """The Hebbian memory as one ``(B, P, P)`` matrix, masked at every update.

    Its connection mask is applied at every update (``memory_layout="dense"``; the reference form of
    :class:`MemoryBlocks`, measured 1.2-1.8x slower on CPU for P = 200 and 400).
    """

    matrix: torch.Tensor
    mask: torch.Tensor | None = None

    def retrieve(self, h: torch.Tensor) -> torch.Tensor:
        """``h M`` for ``h`` ``(B, P)``."""
        return torch.bmm(h.unsqueeze(1), self.matrix).squeeze(1)

    def attract(self, query: torch.Tensor, *, kappa: float, masks: torch.Tensor) -> torch.Tensor:
        """:func:`attractor` on this memory as one autograd node.

        Shapes as :meth:`MemoryBlocks.attract` (the matrix is one block over every row).
        Inside :func:`autograd_reference`, :func:`attractor` one query at a time.
        """
        if _REFERENCE:
            return _reference_attract(self, query, kappa=kappa, masks=masks)
        P = self.matrix.shape[-1]
        return fused_attractor(query, [self.matrix], [slice(0, P)], [(0, P)], kappa=kappa,
                               masks=masks)

    def update(self, p: torch.Tensor, p_hat: torch.Tensor, *, forgetting: float,
               rate: float) -> DenseMemory:
        """The memory after :func:`hebbian_update`."""
        return DenseMemory(hebbian_update(self.matrix, p, p_hat, forgetting=forgetting,
                                          rate=rate, mask=self.mask), self.mask)

    def detach(self) -> DenseMemory:
        """The memory detached."""
        return DenseMemory(self.matrix.detach(), self.mask)

    def dense(self) -> torch.Tensor:
        """The ``(B, P, P)`` matrix."""
        return self.matrix


def memory_weight(log_sigma_gen: torch.Tensor, log_sigma_mem: torch.Tensor,
                  offset: float = 0.0) -> torch.Tensor:
    r"""Weight of the memory-inferred :math:`g` in TEM's precision-weighted mean.

    With :math:`\sigma'_\mathrm{mem} = \sigma_\mathrm{mem} + o` (``offset``, TEM's ramp
    of the trust in memory),

    .. math:: w = \frac{1/\sigma'^2_\mathrm{mem}}{1/\sigma^2_\mathrm{gen} +
              1/\sigma'^2_\mathrm{mem}}
            = \mathrm{sigmoid}\!\left(2 (\log\sigma_\mathrm{gen} -
              \log\sigma'_\mathrm{mem})\right),
        \qquad \log\sigma'_\mathrm{mem} = \mathrm{logaddexp}(\log\sigma_\mathrm{mem},
              \log o)

    and :math:`g^\mathrm{inf} = g^\mathrm{gen} + w (g^\mathrm{mem} - g^\mathrm{gen})`.
    Computed from the logarithms, it stays finite, in value and gradient, where
    :math:`\sigma` itself would overflow (``exp`` of a large output: an infinite
    :math:`\sigma`, whose backward pass is ``0 * inf``) or underflow (an infinite precision).

    Parameters
    ----------
    log_sigma_gen, log_sigma_mem
        :math:`\log\sigma_\mathrm{gen}` ``(G,)`` and :math:`\log\sigma_\mathrm{mem}`
        ``(B, G)``.
    offset
        :math:`o \ge 0`.
    """
    if offset > 0:
        log_sigma_mem = torch.logaddexp(log_sigma_mem, log_sigma_mem.new_tensor(math.log(offset)))
    return torch.sigmoid(2.0 * (log_sigma_gen - log_sigma_mem))


class _BlockMLP(nn.Module):
    """One two-layer MLP per module (elu hidden), as torch_tem's ``MLP``, run as one.

    The per-module weights are the diagonal blocks of one masked matrix per layer, so all
    modules go through two matrix products (inputs and outputs are the modules' vectors
    concatenated).
    """

    def __init__(self, sizes_in: tuple[int, ...], sizes_out: tuple[int, ...],
                 hidden: tuple[int, ...], out_activation: str | None,
                 gen: torch.Generator, out_std: float | None = None) -> None:
        super().__init__()
        self.out_activation = out_activation
        weights, masks = [], []
        for a, b in ((sizes_in, hidden), (hidden, sizes_out)):
            w = torch.zeros(sum(b), sum(a))
            mask = torch.zeros(sum(b), sum(a))
            for (i0, i1), (o0, o1) in zip(_bounds(a), _bounds(b), strict=True):
                std = math.sqrt(2.0 / ((i1 - i0) + (o1 - o0)))  # xavier normal per block
                w[o0:o1, i0:i1] = torch.randn(o1 - o0, i1 - i0, generator=gen) * std
                mask[o0:o1, i0:i1] = 1.0
            weights.append(w)
            masks.append(mask)
        if out_std is not None:
            weights[1] = torch.randn(weights[1].shape, generator=gen) * out_std * masks[1]
        self.weight1 = nn.Parameter(weights[0])
        self.bias1 = nn.Parameter(torch.zeros(sum(hidden)))
        self.weight2 = nn.Parameter(weights[1])
        self.bias2 = nn.Parameter(torch.zeros(sum(sizes_out)))
        self.register_buffer("mask1", masks[0])
        self.register_buffer("mask2", masks[1])

    def weights(self) -> tuple[torch.Tensor, ...]:
        """The masked weights and biases of both layers (compute once per window)."""
        return self.weight1 * self.mask1, self.bias1, self.weight2 * self.mask2, self.bias2

    def forward(self, x: torch.Tensor,
                weights: tuple[torch.Tensor, ...] | None = None, *,
                log: bool = False) -> torch.Tensor:
        """The MLP's output; with ``log=True`` and an ``"exp"`` output, its logarithm.

        The logarithm is the last layer's output itself, so it stays finite where the
        exponential would overflow or underflow.
        """
        w1, b1, w2, b2 = self.weights() if weights is None else weights
        y = F.linear(F.elu(F.linear(x, w1, b1)), w2, b2)
        if log and self.out_activation != "exp":
            raise ValueError("log=True needs an MLP with an exponential output")
        return torch.exp(y) if self.out_activation == "exp" and not log else y


class TEM(WalkModel):
    """TEM with a Hebbian attractor memory (see the module docstring for the equations).

    Parameters
    ----------
    config
        :class:`TEMConfig` (validated here).
    seed
        Seed of the parameter initialisation.
    device, dtype
        Where the parameters live.
    """

    model_type: ClassVar[str] = "tem"

    def __init__(self, config: TEMConfig | None = None, *, seed: SeedLike = 0,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        config = TEMConfig() if config is None else config
        if not isinstance(config, TEMConfig):
            raise TypeError(f"config must be a TEMConfig, got {type(config).__name__}")
        config.validate()
        self.config = config
        gen = torch_generator(seed, "tem", "init")
        nf, nc = config.n_modules, config.n_compressed
        G, P = sum(config.g_sizes), sum(config.p_sizes)
        self._g_bounds = _bounds(config.g_sizes)
        self._p_bounds = _bounds(config.p_sizes)
        freq = torch.tensor(config.frequencies, dtype=torch.float64)
        self.alpha_logit = nn.Parameter(torch.log(freq / (1 - freq)).to(dtype))  # theta_f
        self.w_x = nn.Parameter(torch.tensor(1.0, dtype=dtype))  # f_x gain
        self.b_x = nn.Parameter(torch.zeros(nc, dtype=dtype))  # f_x bias
        self.w_p = nn.Parameter(torch.ones(nf, dtype=dtype))  # sensory weight per module
        self.g_init = nn.Parameter((torch.randn(G, generator=gen) * 0.5).clamp(-1, 1).to(dtype))
        # D_a, zero at the start (g stays put until learned); stay is fixed at zero
        self.transition = nn.Parameter(torch.zeros(config.n_actions - 1, G, G, dtype=dtype))
        self.log_sigma_gen = nn.Parameter(torch.zeros(G, dtype=dtype))  # sigma of g^gen
        hid = tuple(2 * n for n in config.g_sizes)
        # g from memory: small output weights (torch_tem: g_mem_std 0.1)
        self.g_from_memory = _BlockMLP(config.g_subsampled, config.g_sizes, hid, None, gen,
                                       out_std=0.1)
        self.sigma_from_memory = _BlockMLP((2,) * nf, config.g_sizes, hid, "exp", gen)
        self.decoder = _BlockMLP((nc,), (config.n_symbols,), (config.decoder_hidden,), None,
                                 gen)
        self.to(dtype)
        self.register_buffer("two_hot", two_hot_table(config.n_symbols, nc, dtype=dtype))
        self.register_buffer("transition_mask", self._transition_mask().to(dtype))
        self.register_buffer("memory_mask", self._memory_mask().to(dtype))
        for j, (a, _) in enumerate(self._p_bounds):  # source units of each column block
            rows = torch.nonzero(self.memory_mask[:, a] > 0).flatten()
            self.register_buffer(f"memory_rows_{j}", rows, persistent=False)
        self.register_buffer("retrieve_masks_gen", self._retrieve_masks(True).to(dtype))
        self.register_buffer("retrieve_masks_inf", self._retrieve_masks(False).to(dtype))
        self.register_buffer("retrieve_masks_both",  # (2, K, P): generation, inference
                             torch.stack([self.retrieve_masks_gen, self.retrieve_masks_inf]),
                             persistent=False)
        self.register_buffer("retrieve_masks_gen_pair",  # (2, K, P): from g^gen and g^inf
                             torch.stack([self.retrieve_masks_gen, self.retrieve_masks_gen]),
                             persistent=False)
        # index maps: subsampled g cells; for every place cell its g cell and its x unit
        g_sub = torch.cat([torch.arange(a, a + n) for (a, _), n in
                           zip(self._g_bounds, config.g_subsampled, strict=True)])
        p_g, p_x, start = [], [], 0
        for f, n in enumerate(config.g_subsampled):
            p_g.append(start + torch.arange(n).repeat_interleave(nc))  # g-major, x inner
            p_x.append(f * nc + torch.arange(nc).repeat(n))
            start += n
        module_of_g = torch.zeros(G, nf)
        for f, (a, b) in enumerate(self._g_bounds):
            module_of_g[a:b, f] = 1.0
        self.register_buffer("g_sub_index", g_sub, persistent=False)
        self.register_buffer("p_g_index", torch.cat(p_g), persistent=False)
        self.register_buffer("p_x_index", torch.cat(p_x), persistent=False)
        self.register_buffer("module_of_g", module_of_g.to(dtype), persistent=False)
        del P
        self._progress = 10**9  # fully ramped unless training sets the step
        if device is not None:
            self.to(device)

    # ------------------------------------------------------------------ masks
    def _hierarchy_mask(self, bounds: list[tuple[int, int]]) -> torch.Tensor:
        """``[from, to]`` 1 if module ``from`` has a frequency <= that of module ``to``.

        Every pair when the config is not hierarchical; ``bounds`` are the modules' index ranges.
        """
        c = self.config
        size = bounds[-1][1]
        mask = torch.zeros(size, size)
        for fi, (a0, a1) in enumerate(bounds):
            for fj, (b0, b1) in enumerate(bounds):
                if c.frequencies[fi] <= c.frequencies[fj] or not c.hierarchical:
                    mask[a0:a1, b0:b1] = 1.0
        return mask

    def _transition_mask(self) -> torch.Tensor:
        """Allowed g -> g transition weights (low to high frequency)."""
        return self._hierarchy_mask(self._g_bounds)

    def _memory_mask(self) -> torch.Tensor:
        """Allowed p -> p memory weights (low to high frequency)."""
        return self._hierarchy_mask(self._p_bounds)

    def _retrieve_masks(self, generative: bool) -> torch.Tensor:
        c = self.config
        masks = torch.ones(c.attractor_steps, sum(c.p_sizes))
        if generative and c.hierarchical:
            for f, (a0, a1) in enumerate(self._p_bounds):
                masks[max(c.attractor_steps - f, 1):, a0:a1] = 0.0
        return masks

    # ------------------------------------------------------------------ schedules
    def set_progress(self, step: int) -> None:
        """Ramp eta, lambda, the latent losses and the trust in memory by training step.

        Training sets the step before every window; a checkpoint sets its own step when it is
        loaded (evaluation uses the schedule the model was trained with); a fresh model
        uses the fully ramped schedule.
        """
        self._progress = check_int("step", step, minimum=0)

    def _schedule(self) -> dict[str, float]:
        c, s = self.config, self._progress
        trust_offset = 1.0 / (1.0 + math.exp(min(50.0, (s - c.memory_trust_half_step)
                                                 / c.memory_trust_width)))
        return {
            "eta": min((s + 1) / c.eta_ramp_steps, 1.0) * c.learning_rate_memory,
            "lambda": min((s + 1) / c.lambda_ramp_steps, 1.0) * c.forgetting,
            "latent": min((s + 1) / c.latent_ramp_steps, 1.0),
            "reg_p": (1.0 - min((s + 1) / c.regulariser_ramp_steps, 1.0)),
            "trust_offset": trust_offset,
        }

    # ------------------------------------------------------------------ pieces
    def _g_sub(self, g: torch.Tensor) -> torch.Tensor:
        """Subsampled g: the first ``g_subsampled[f]`` cells of every module, ``(B, G_s)``."""
        return g[:, self.g_sub_index]

    def _outer(self, g_sub: torch.Tensor | None, x_tilde: torch.Tensor | None) -> torch.Tensor:
        """``flatten(g_f (x) x_f)`` per module, concatenated, ``(B, P)``; ``None`` = ones."""
        if g_sub is None:
            return x_tilde.reshape(x_tilde.shape[0], -1)[:, self.p_x_index]
        if x_tilde is None:
            return g_sub[:, self.p_g_index]
        return g_sub[:, self.p_g_index] * x_tilde.reshape(x_tilde.shape[0], -1)[:, self.p_x_index]

    def _decode(self, p0: torch.Tensor,
                weights: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
        """Logits over symbols from the highest-frequency module's place code ``(B, P_0)``.

        ``weights``: the decoder's :meth:`_BlockMLP.weights`, when computed once for a window.
        """
        nc = self.config.n_compressed
        x = self.w_x * p0.reshape(p0.shape[0], -1, nc).sum(dim=1) + self.b_x  # (B, nc)
        return self.decoder(x, weights)

    def _transitions(self) -> torch.Tensor:
        """``(G, A G)``: the masked :math:`D_a` of every action side by side (stay is zero).

        Column block ``a`` is :math:`D_a` (``[from, to]``), so ``g @ result`` gives every
        action's :math:`g D_a` in one product.
        """
        D = torch.cat([torch.zeros_like(self.transition[:1]), self.transition], dim=0)
        D = D * self.transition_mask  # (A, G, G), [from, to]
        return D.permute(1, 0, 2).reshape(D.shape[1], -1)

    def _path_integrate(self, g: torch.Tensor, actions: torch.Tensor,
                        transitions: torch.Tensor | None = None) -> torch.Tensor:
        r""":math:`\mathrm{clip}(g + g D_a)`; ``transitions`` from :meth:`_transitions`."""
        D = self._transitions() if transitions is None else transitions
        every = (g @ D).view(g.shape[0], -1, g.shape[1])  # (B, A, G): g D_a for every a
        delta = every[torch.arange(g.shape[0], device=g.device), actions]
        return torch.clamp(g + delta, -1.0, 1.0)

    def _x_tilde(self, x_filtered: torch.Tensor) -> torch.Tensor:
        centred = F.relu(x_filtered - x_filtered.mean(dim=-1, keepdim=True))
        normed = centred / (centred.norm(dim=-1, keepdim=True) + 1e-8)
        return torch.sigmoid(self.w_p).view(1, -1, 1) * normed

    # ------------------------------------------------------------------ walk model
    def state_position(self, state: TEMState) -> torch.Tensor:
        """``(B, G)`` the structural code :math:`g` of a state."""
        return state.g

    def begin(self, observations: Any) -> TEMState:
        r"""State after the first observations ``(B,)``: g from the prior, x filtered, empty M.

        The first observation is bound to :math:`g_0` and written to memory (to both memories
        when they are separate) like every later one, with nothing retrieved yet:
        :math:`\hat p = p^x = 0`.
        """
        obs = self.check_first(observations)
        B = obs.shape[0]
        c = self.config
        g0 = self.g_init.unsqueeze(0).expand(B, -1)
        alpha = torch.sigmoid(self.alpha_logit).view(1, -1, 1)
        x_f = alpha * self.two_hot[obs].unsqueeze(1).expand(-1, c.n_modules, -1)
        p = f_p(self._outer(self._g_sub(g0), self._x_tilde(x_f)))
        sched = self._schedule()
        memory = self._empty_memory(B, g0, masked=True).update(
            p, torch.zeros_like(p), forgetting=sched["lambda"], rate=sched["eta"])
        inference = None
        if c.separate_inference_memory:
            inference = self._empty_memory(B, g0, masked=False).update(
                p, torch.zeros_like(p), forgetting=sched["lambda"], rate=sched["eta"])
        return TEMState(g=g0, x_filtered=x_f, memory=memory, inference_memory=inference)

    def _empty_memory(self, B: int, like: torch.Tensor, *,
                      masked: bool) -> MemoryBlocks | DenseMemory:
        """A zero memory of ``B`` walks in the config's layout.

        ``masked``: with the hierarchical connection mask (the generative memory, or the only
        one); else every connection, as one block (torch_tem's inference memory).
        """
        c = self.config
        P = sum(c.p_sizes)
        if c.memory_layout == "dense":
            return DenseMemory(like.new_zeros(B, P, P),
                               self.memory_mask if masked and c.hierarchical else None)
        if not masked:
            return MemoryBlocks(blocks=[like.new_zeros(B, P, P)], rows=[slice(0, P)],
                                bounds=[(0, P)])
        rows = [MemoryBlocks.contiguous(getattr(self, f"memory_rows_{j}"))
                for j in range(c.n_modules)]
        return MemoryBlocks(
            blocks=[like.new_zeros(B, _count(r, P), e - s)
                    for r, (s, e) in zip(rows, self._p_bounds, strict=True)],
            rows=rows, bounds=list(self._p_bounds))

    @property
    def trains_on_visited_only(self) -> bool:
        """Whether :meth:`forward` puts its losses on revisits only (``visited=``)."""
        return bool(self.config.train_on_visited_states_only)

    def forward(self, state: TEMState, actions: Any, observations: Any, *,
                record: bool = False, visited: Any = None) -> WindowOutput:
        r"""Run a window: path-integrate, predict, infer g and p, write memory; TEM's losses.

        Shapes as :meth:`models.tem_t.TEMT.forward`. ``visited`` ``(B, W)`` bool: whether
        the node of each observation was visited before in its walk
        (:func:`models.tem_training.visited_mask`); with ``train_on_visited_states_only``
        each step's losses are the mean over the walks that revisit, :math:`\sum_b v_{tb}
        l_{tb} / \max(1, \sum_b v_{tb})` (TF2 TEM), and the window's loss the sum over steps
        over ``W`` (``None``, or the option off: every walk and step). ``record`` adds
        ``"position"`` ``(B, W, G)`` (the inferred :math:`g`), ``"memory_activity"``
        ``(B, W, P)`` (the inferred place code :math:`p`), and the parts of the inferred
        :math:`g`, each ``(B, W, G)``: ``"position_path_integrated"`` (:math:`g^\mathrm{gen}`),
        ``"position_from_memory"`` (:math:`g^\mathrm{mem}`) and ``"memory_trust"`` (the
        weight :math:`w` of :func:`memory_weight`).
        """
        if not isinstance(state, TEMState):
            raise TypeError(f"state must be a TEMState, got {type(state).__name__}")
        c = self.config
        B = state.g.shape[0]
        actions, observations = self.check_window(B, actions, observations)
        W = actions.shape[1]
        if (state.inference_memory is not None) != c.separate_inference_memory:
            raise ValueError("state: its inference memory does not match "
                             f"separate_inference_memory={c.separate_inference_memory} (a "
                             "state begun by a model of another configuration)")
        step_weights = None
        if visited is not None and c.train_on_visited_states_only:
            step_weights = _visited_weights(visited, B, W, like=state.g)
        sched = self._schedule()
        alpha = torch.sigmoid(self.alpha_logit).view(1, -1, 1)
        g, x_f = state.g, state.x_filtered
        memory, inference = state.memory, state.inference_memory
        logits_all, positions, places, inference_parts = [], [], [], []
        totals: dict[str, torch.Tensor] = {}
        p0 = c.p_sizes[0]
        # parameters used at every step, masked once per window
        transitions = self._transitions()
        w_dec, w_g_mem, w_sigma = (self.decoder.weights(), self.g_from_memory.weights(),
                                   self.sigma_from_memory.weights())
        for t in range(W):
            obs = observations[:, t]
            # generative: path integration and prediction from memory
            g_gen = self._path_integrate(g, actions[:, t], transitions)
            x_c = self.two_hot[obs]
            x_f = (1 - alpha) * x_f + alpha * x_c.unsqueeze(1)
            x_tilde = self._x_tilde(x_f)
            query_gen = self._outer(self._g_sub(g_gen), None)
            query_x = self._outer(None, x_tilde)
            # retrievals from the memories before this step's write: the prediction from the
            # path-integrated g (made before x is used) and inference from x alone; from one
            # memory both in one pass over it
            p_pred: torch.Tensor | None = None
            if inference is None:
                retrieved = memory.attract(torch.stack([query_gen, query_x], dim=1),
                                           kappa=c.kappa, masks=self.retrieve_masks_both)
                p_pred, p_x = retrieved[:, 0], retrieved[:, 1]
            else:
                p_x = inference.attract(query_x, kappa=c.kappa, masks=self.retrieve_masks_inf)
            # inference: g from memory, precision-weighted g, p
            # sum the retrieved place code over its sensory preferences: g per module
            g_mem = torch.clamp(self.g_from_memory(
                p_x.reshape(B, -1, c.n_compressed).sum(-1), w_g_mem), -1, 1)  # (B, G)
            with torch.no_grad():
                x_hat = torch.softmax(self._decode(p_x[:, :p0], w_dec), dim=-1)
                err = ((F.one_hot(obs, c.n_symbols).to(x_hat.dtype) - x_hat) ** 2).sum(-1)
            norms = (g_mem ** 2) @ self.module_of_g  # (B, F) |g_mem_f|^2
            quality = torch.stack([norms, err.unsqueeze(1).expand_as(norms)], -1)
            log_sigma_mem = self.sigma_from_memory(quality.reshape(B, -1), w_sigma, log=True)
            trust = memory_weight(self.log_sigma_gen, log_sigma_mem, sched["trust_offset"] * 1e4)
            g_inf = g_gen + trust * (g_mem - g_gen)
            p = f_p(self._outer(self._g_sub(g_inf), x_tilde))
            # p-hat of the Hebbian rule and the p loss: from g_inf, or the prediction itself
            p_pred, p_g = self._generate(memory, query_gen, g_inf, p_pred)
            logits = self._decode(p_pred[:, :p0], w_dec)
            # losses, per walk
            latent = sched["latent"]
            terms = {
                "x_gen": F.cross_entropy(logits, obs, reduction="none"),
                "x_p": F.cross_entropy(self._decode(p[:, :p0], w_dec), obs, reduction="none"),
                "p_gen": ((p - p_g) ** 2).sum(-1) * latent,
                "p_x": ((p - p_x) ** 2).sum(-1) * latent,
                "g": ((g_inf - g_gen) ** 2).sum(-1) * latent,
                "reg_g": c.weight_g_regulariser * (g_inf ** 2).sum(-1),
                "reg_p": c.weight_p_regulariser * sched["reg_p"] * p.abs().sum(-1),
            }
            if c.generate_from_inferred_g:
                terms["x_g"] = F.cross_entropy(self._decode(p_g[:, :p0], w_dec), obs,
                                               reduction="none")
            weights = None if step_weights is None else step_weights[t]
            for k, v in terms.items():
                totals[k] = totals.get(k, 0.0) + _walk_mean(v, weights)
            # memory
            memory = memory.update(p, p_g, forgetting=sched["lambda"], rate=sched["eta"])
            if inference is not None:
                inference = inference.update(p, p_x, forgetting=sched["lambda"],
                                             rate=sched["eta"])
            g = g_inf
            logits_all.append(logits)
            if record:
                positions.append(g_inf.detach())
                places.append(p.detach())
                inference_parts.append(torch.stack([g_gen, g_mem, trust.expand_as(g_gen)],
                                                   dim=1).detach())
        loss = sum(v for v in totals.values()) / W
        out = WindowOutput(logits=torch.stack(logits_all, dim=1), loss=loss,
                           state=TEMState(g=g, x_filtered=x_f, memory=memory,
                                          inference_memory=inference),
                           terms={k: float(v.detach()) / W for k, v in totals.items()})
        if record:
            parts = torch.stack(inference_parts, dim=1)  # (B, W, 3, G)
            out.record = {"position": torch.stack(positions, dim=1),
                          "memory_activity": torch.stack(places, dim=1),
                          "position_path_integrated": parts[:, :, 0],
                          "position_from_memory": parts[:, :, 1],
                          "memory_trust": parts[:, :, 2]}
        return out

    def predict_from_position(self, state: TEMState, g: torch.Tensor) -> torch.Tensor:
        r"""Logits of the symbol the generative memory of ``state`` holds at position ``g``.

        The prediction :meth:`forward` makes, with ``g`` ``(B, G)`` in place of the
        path-integrated :math:`g^\mathrm{gen}`: the query :math:`f_p(g \otimes \mathbf{1})`,
        attractor retrieval from :math:`M`, decoding of the highest-frequency module. With
        the code a node had when it was stored, it measures the memory's read-out without
        path-integration drift (:mod:`models.tem_diagnosis`).
        """
        query = self._outer(self._g_sub(g), None)
        p = state.memory.attract(query, kappa=self.config.kappa, masks=self.retrieve_masks_gen)
        return self._decode(p[:, :self.config.p_sizes[0]])

    def _generate(self, memory: MemoryBlocks | DenseMemory, query_gen: torch.Tensor,
                  g_inf: torch.Tensor,
                  p_pred: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        r"""The prediction's place code and :math:`\hat p`, retrieved from the generative memory.

        ``p_pred``: the prediction's, when already retrieved (with inference, from one
        memory), else retrieved here from ``query_gen``. :math:`\hat p` is the retrieval from
        :math:`g^\mathrm{inf}` with ``generate_from_inferred_g`` (both queries in one pass
        when neither is retrieved yet), else the prediction's own.
        """
        c = self.config
        if not c.generate_from_inferred_g:
            if p_pred is None:
                p_pred = memory.attract(query_gen, kappa=c.kappa, masks=self.retrieve_masks_gen)
            return p_pred, p_pred
        query_inf = self._outer(self._g_sub(g_inf), None)
        if p_pred is not None:
            return p_pred, memory.attract(query_inf, kappa=c.kappa,
                                          masks=self.retrieve_masks_gen)
        retrieved = memory.attract(torch.stack([query_gen, query_inf], dim=1), kappa=c.kappa,
                                   masks=self.retrieve_masks_gen_pair)
        return retrieved[:, 0], retrieved[:, 1]

    def detach_state(self, state: TEMState) -> TEMState:
        """The state with g, filtered x and the memories detached."""
        inference = state.inference_memory
        return TEMState(g=state.g.detach(), x_filtered=state.x_filtered.detach(),
                        memory=state.memory.detach(),
                        inference_memory=None if inference is None else inference.detach())


_REFERENCE = False  # set by autograd_reference()


@contextlib.contextmanager
def autograd_reference() -> Iterator[None]:
    """Run TEM's memory as plain autograd operations inside the ``with`` block.

    The reference of the fast path: :meth:`MemoryBlocks.attract` calls :func:`attractor` once
    per query, and the Hebbian update always clips. Values and gradients are the same to
    rounding (``tests/test_tem_attractor.py``); ``bench/tem_train.py`` times both.
    """
    global _REFERENCE
    previous, _REFERENCE = _REFERENCE, True
    try:
        yield
    finally:
        _REFERENCE = previous


def _reference_attract(memory: MemoryBlocks | DenseMemory, query: torch.Tensor, *,
                       kappa: float, masks: torch.Tensor) -> torch.Tensor:
    """:meth:`MemoryBlocks.attract` as plain autograd: :func:`attractor` once per query."""
    if query.dim() == 2:
        return attractor(query, memory, kappa=kappa, steps=masks.shape[0], masks=masks)
    return torch.stack([attractor(query[:, q], memory, kappa=kappa, steps=masks.shape[1],
                                  masks=masks[q]) for q in range(query.shape[1])], dim=1)


def _hebbian_block(memory: torch.Tensor, a: torch.Tensor, b: torch.Tensor, *, beta: float,
                   alpha: float) -> torch.Tensor:
    """``clamp(baddbmm(memory, a, b, beta=beta, alpha=alpha), -1, 1)``: one block's update.

    One autograd node (:func:`models.tem_attractor.fused_hebbian_block`: the clip and its
    backward only where something clips, its mask without boolean passes); inside
    :func:`autograd_reference`, the two autograd operations.
    """
    if _REFERENCE:
        return torch.clamp(torch.baddbmm(memory, a, b, beta=beta, alpha=alpha), -1.0, 1.0)
    return fused_hebbian_block(memory, a, b, beta=beta, alpha=alpha)


def _visited_weights(visited: Any, batch: int, window: int, *,
                     like: torch.Tensor) -> torch.Tensor:
    """``visited`` ``(B, W)`` bool as ``(W, B)`` 0/1 weights of ``like``'s dtype and device."""
    v = torch.as_tensor(visited, device=like.device)
    if v.dtype != torch.bool or tuple(v.shape) != (batch, window):
        raise ValueError(f"visited must be a ({batch}, {window}) bool tensor, got "
                         f"{tuple(v.shape)} {v.dtype}")
    return v.t().to(like.dtype)


def _walk_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    r"""Mean of a step's per-walk ``values`` ``(B,)`` over the walks ``weights`` selects.

    :math:`\sum_b w_b l_b / \max(1, \sum_b w_b)` (0 when none is selected); the plain mean
    when ``weights`` is ``None``.
    """
    if weights is None:
        return values.mean()
    return (values * weights).sum() / weights.sum().clamp(min=1.0)


def _count(rows: torch.Tensor | slice, total: int) -> int:
    return len(range(*rows.indices(total))) if isinstance(rows, slice) else rows.numel()


def _bounds(sizes: tuple[int, ...]) -> list[tuple[int, int]]:
    out, start = [], 0
    for n in sizes:
        out.append((start, start + n))
        start += n
    return out
