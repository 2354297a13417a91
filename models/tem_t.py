r"""TEM-t: the Tolman-Eichenbaum Machine as a transformer (Whittington, Warren & Behrens 2022).

TEM-t replaces TEM's Hebbian attractor memory by softmax attention over the past steps of the
walk, with keys and queries computed from the position code only and values from the
stimulus only (ICLR 2022, "Relating transformers to models and neural representations of the
hippocampal formation", section 4; SCIENCE.md section 3).

Position code (medial entorhinal cortex)
----------------------------------------
A recurrent, action-dependent position encoding, one learned matrix per action:

.. math::

    e_{t+1} = \sigma\!\left(W_{a_t} e_t\right), \qquad e_0 = \sigma(\hat e_0)

with a learned initial code :math:`\hat e_0` and, by default, :math:`\sigma = \tanh`
(``position_activation``; also ``"relu_norm"`` (rectify, then normalise to the unit sphere),
``"norm"`` (normalise) and ``"linear"``). ``transition="orthogonal"`` constrains every
:math:`W_a = \exp(S_a - S_a^\top)` to a rotation (with ``"linear"``: an isometric path
integrator). The "stay" action (index 0) keeps the code, :math:`e_{t+1} = e_t` (staying does
not move the animal; ``learn_stay=True`` learns :math:`W_\mathrm{stay}` like the others).

Cyclic modules (``transition="cyclic"``)
----------------------------------------
A grid-module parametrisation whose learned transitions can be read out as exact group
actions (the spiking MEC, :func:`models.grid_codes.grid_modules_from_tem_t`, is driven by
them). The code is :math:`M` modules of :math:`P_m` units (``module_sizes``,
:math:`\sum_m P_m` = ``d_position``), each a distribution over the phases of the cyclic group
:math:`\mathbb{Z}_{P_m}` (non-negative, summing to 1). Action :math:`a` moves module
:math:`m` by a learned *shift kernel*, a distribution over the :math:`P_m` shifts, by circular
convolution:

.. math::

    \kappa_{a,m} = \operatorname{softmax}(\theta_{a,m} / \tau), \qquad
    e'_{m}[p] = \sum_{s=0}^{P_m - 1} \kappa_{a,m}[s]\; e_{m}[(p - s) \bmod P_m]

(a block-diagonal circulant :math:`W_a`, no nonlinearity; ``position_activation`` is not
used). Stay keeps :math:`e` exactly (unless ``learn_stay``). The initial code
:math:`e_0` is fixed, not learned: one-hot at phase 0 in every module (the group is
translation invariant, so the origin is arbitrary). A one-hot kernel makes the step an exact
permutation, :math:`p \mapsto p + k_{a,m}`; the code of a node is path-consistent (every
path to it gives the same code) when the shifts satisfy the world's relations (e.g.
:math:`k_{\mathrm{S},m} = -k_{\mathrm{N},m}`). Nothing imposes them: trained without landmark
correction (``position_correction=False``), the loss can only predict revisits if the code of
a revisited node equals the key stored there, which forces path consistency. The kernels are
sharpened by an entropy penalty added to the loss,

.. math::

    \mathcal{L}_H = \lambda_H \, \frac{1}{|A'| M} \sum_{a \ne \mathrm{stay}} \sum_m
    \frac{H(\kappa_{a,m})}{\log P_m}, \qquad H(\kappa) = -\sum_s \kappa[s] \log \kappa[s]

(``kernel_entropy`` = :math:`\lambda_H`), switched on only after the loss has chosen the
shifts: :math:`\lambda_H(s) = \lambda_H \operatorname{clip}((s - s_H) / s_H, 0, 1)` at
optimiser step :math:`s` (``kernel_entropy_start`` = :math:`s_H`; 0: from the start). A
penalty from the start freezes shifts before they are consistent (measured on square
4x4-9x9 worlds, seed 0: :math:`\lambda_H = 0.05` ramped in from step 0 over 2000 steps left
one module of four inconsistent, path consistency 0.75 on 8x8; without it all four were
consistent by step 500; the penalty is 0 for one-hot kernels). The kernel logits learn with
an effective rate :math:`1/\tau` times the optimiser's (``kernel_temperature`` 0.1 moves them
fast enough to change shifts; at 1 the initial shifts barely move in 600 steps, measured). A
one-hot initial code and one-hot kernels keep the code one-hot forever; soft kernels blur it,
which costs retrieval, so the cross-entropy also favours sharp kernels (the low temperature
sharpens them: mean normalised kernel entropy 0.005 after 5000 steps without any penalty).
Train cyclic modules with ``key_projection=False``
(keys are the code itself, :math:`k = e / \lVert e \rVert`, so :math:`q \cdot k` is the
fraction of modules in the same phase): a learned :math:`W_e` can ignore a module, and then
nothing pushes that module to become consistent (measured: with :math:`W_e` one module of four
stayed inconsistent after 600 steps; without, all four were consistent by step 300).

Toroidal modules (``module_rank=2``): grid cells
------------------------------------------------
With ``module_rank`` :math:`R = 2` module :math:`m` is the torus
:math:`\mathbb{Z}_{P_m}^2` (:math:`P_m^2` units, phases :math:`(p_1, p_2)` flattened
row-major), its kernel a distribution over the :math:`P_m^2` two-dimensional shifts and the
step a 2-D circular convolution (:func:`group_difference_index`). On a lattice world a
path-consistent module maps lattice coordinates :math:`x \in \mathbb{Z}^2` to phases
:math:`A_m x \bmod P_m`, with :math:`A_m` the shifts of the two unit lattice steps. When
:math:`\det A_m` is invertible mod :math:`P_m` the phase of :math:`x` recurs exactly on
:math:`x + P_m \mathbb{Z}^2`: every unit fires on a lattice of period :math:`P_m`,
**triangular on a hexagonal world** (grid cells) and square on a square world; a degenerate
:math:`A_m` (:math:`\det A_m \equiv 0`) uses :math:`P_m` of the :math:`P_m^2` phases and
fires on stripes. The loss does not know :math:`A_m`; two pressures make the learned modules
exact, invertible grids (hexagonal 4x4-9x9 worlds, 5000 steps, measured):

* **Module dropout** (``module_dropout`` :math:`p`, training only): each walk leaves each
  module out of its queries for a window with probability :math:`p`
  (:meth:`TEMT._queries`), so every module must locate the agent with few others. Without
  it a module that the others make redundant keeps wrong triangle relations: with modules
  (3, 4, 5) the 3-phase module stayed at path consistency 0.68 (the product of the others'
  periods, 20, exceeds the training worlds); with :math:`p = 0.3` all were consistent.
* **Module sharpening** (``module_sharpening`` :math:`\gamma`): after each step
  :math:`e_m \leftarrow e_m^\gamma / \sum_p e_m[p]^\gamma` (a bump of activity stays a
  bump, as in attractor models of grid cells; one-hot codes are fixed points). With
  :math:`\gamma = 1`, modules (3, 5, 7) and seed 0 learned a degenerate 7-phase module
  (:math:`\det A \equiv 0`: stripes) with or without dropout; with :math:`\gamma = 2`
  the 5- and 7-phase modules were consistent and invertible in all five runs ((3, 5, 7)
  seeds 0-2, (5, 7) seeds 0-1, :math:`p = 0.6`), but the 3-phase module ended inconsistent in
  one of three seeds (0.84 of the edges; two of three at about step 4000), so the shipped
  recipe uses (5, 7).

Soft kernels leave the code inexact over long walks: without sharpening they blur it (kernel
maxima 0.998: after 500 steps the most active phase of a module holds 0.29-0.58), with
sharpening the bump drifts (modules (5, 7), entropy penalty only, kernel maxima 0.34 at step
5000: accuracy at visited nodes 0.75 / 0.64 and position maps correlating 0.44 / 0.37 between
walks on hex 12x12 / 16x16). ``kernel_temperature_final`` fixes this: from step
:math:`s_H` to :math:`2 s_H` the temperature falls geometrically to
:math:`\tau_\mathrm{end}`, which keeps every kernel's most probable shift and makes it
one-hot (normalised kernel entropy below :math:`10^{-6}` at step 5000 with
:math:`\tau_\mathrm{end} = 0.005`); the shipped toroidal checkpoint, trained that way, is
exact on its own (accuracy 1.000 on hex 12x12 and 16x16, seeds 0 and 1). It is not yet
reliable: seed 2 of the same recipe ended with the 7-phase module inconsistent (0.67), and
with a later anneal (steps 4000-8000) seed 2 was consistent at step 4367 but lost it while
the temperature fell (the logits keep learning), while seed 3 ended exact. With modules
(3, 5, 7) annealing left the 3-phase module inconsistent in two of two seeds.
:meth:`TEMT.quantise_kernels` makes the kernels one-hot after training instead
(``export_checkpoint(..., quantise=True)``).

Memory (hippocampus): one memory neuron per past step
-----------------------------------------------------
At every step the model stores a key from the position and a value from the stimulus,

.. math:: k_t = \frac{W_e e_t}{\lVert W_e e_t \rVert}, \qquad v_t = W_x\, \mathbf{x}_t ,

with :math:`\mathbf{x}_t` the one-hot code of the symbol. The query of step :math:`t+1` uses
the same projection of the new position, :math:`q_{t+1} = k(e_{t+1})`, and the prediction of
the next observation is softmax attention over the :math:`N_t = t + 1` memories stored so far
(the "memory neurons": :math:`w_{t+1,\tau}` is the activity of memory neuron :math:`\tau`):

.. math::

    w_{t+1, \tau} = \operatorname{softmax}_\tau\!\left(\beta_t\, q_{t+1} \cdot k_\tau\right),
    \qquad \beta_t = b \log(1 + N_t),
    \qquad \hat{\mathbf{x}}_{t+1} = \operatorname{softmax}\!\Big(W_o \sum_{\tau \le t}
    w_{t+1, \tau} v_\tau + c_o\Big)

with a learned scale :math:`b = \mathrm{softplus}(\theta_\beta) > 0`: the inverse temperature
grows like the log of the number of memories, which keeps the softmax as selective as the
number of competitors grows (Whittington et al. 2022 scale :math:`\beta` with
:math:`\log(\#\text{memories})` for the same reason). Because queries and keys are the same
normalised projection of the position, :math:`q \cdot k` is the cosine similarity of two
positions and a memory stored at the current position scores highest. A learned *null memory*
(``null_memory=True``; score :math:`\beta_t s_0`, value :math:`v_0`) lets the memory neurons
stay silent when no stored position matches (a new node); it takes part in the softmax like
the others and carries no position.

Landmark correction of the position code
----------------------------------------
Path integration alone drifts: after a few hundred steps the code of a node no longer matches
the key stored at its first visit, and retrieval fails far more often late in a walk than
early (measured: 96 % correct in the first 100 steps of a 10x10 walk, 51 % after 500, without
correction). Whittington et al. (2022) stabilise the recurrent position encoding by querying
stored landmark memories, as TEM infers ``g`` from memory. With
``position_correction=True`` (default), once :math:`x_{t+1}` is observed the path-integrated
code :math:`\tilde e_{t+1}` is replaced by a softmax-weighted mixture of the codes stored with
memories that show the same symbol near the same position:

.. math::

    c_\tau = b_c \log(1 + N_t)\, q_{t+1} \cdot k_\tau + \beta_x [x_\tau = x_{t+1}],
    \qquad c_0 = b_c \log(1 + N_t)\, \gamma + \beta_x,

.. math::

    u = \operatorname{softmax}(c_1, \dots, c_{N_t}, c_0), \qquad
    e_{t+1} = \sum_{\tau \le t} u_\tau e_\tau + u_0\, \tilde e_{t+1}

with learned :math:`b_c = \mathrm{softplus}(\theta_c)`, :math:`\beta_x` and threshold
:math:`\gamma` (the null option keeps the path-integrated code when no stored landmark
matches better than :math:`\gamma`). The *prediction* of :math:`x_{t+1}` still uses
:math:`q_{t+1} = k(\tilde e_{t+1})`: keys and queries come from position only, values from
the stimulus only; the correction changes which position is stored and carried on. The
stored code of step :math:`t+1` is the corrected :math:`e_{t+1}`. This runs the window step by
step (about 5x slower than the vectorised window of ``position_correction=False``).

Training is cross-entropy of the prediction against the observation, over many worlds whose
symbols are resampled, with truncated backpropagation through time (windows of ~20 steps; the
earlier memories stay, detached): :mod:`models.tem_training`.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from models.seeding import SeedLike, child_seed, torch_generator
from models.tem import WalkModel, WindowOutput
from models.tem_t_config import TEMTConfig, TEMTState
from models.tem_t_position import _activate, group_difference_index, position_step

__all__ = ["TEMT", "TEMTConfig", "TEMTState", "group_difference_index", "position_step"]


class TEMT(WalkModel):
    """TEM-t: path-integrated position code, softmax memory keyed by position.

    Parameters
    ----------
    config
        :class:`TEMTConfig` (validated here).
    seed
        Seed of the parameter initialisation.
    device, dtype
        Where the parameters live.

    Examples
    --------
    >>> model = TEMT(TEMTConfig(), seed=0)                     # doctest: +SKIP
    >>> state = model.begin(obs[:, 0])                          # doctest: +SKIP
    >>> out = model(state, actions[:, :20], obs[:, 1:21])       # doctest: +SKIP
    >>> out.logits.shape                                        # doctest: +SKIP
    torch.Size([16, 20, 45])
    """

    model_type: ClassVar[str] = "tem-t"

    def __init__(self, config: TEMTConfig | None = None, *, seed: SeedLike = 0,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        config = TEMTConfig() if config is None else config
        if not isinstance(config, TEMTConfig):
            raise TypeError(f"config must be a TEMTConfig, got {type(config).__name__}")
        config.validate()
        self.config = config
        gen = torch_generator(seed, "tem-t", "init")
        d, a = config.d_position, config.n_actions
        # W_a: random orthogonal matrices (a rotation per action keeps |e| at the start)
        if config.transition == "cyclic":  # theta: (A, d), the kernel logits of all modules
            self.transitions = nn.Parameter(
                (torch.randn(a, d, generator=gen) * config.kernel_init_scale).to(dtype))
        else:
            if config.transition == "orthogonal":  # S_a; W_a = exp(S_a - S_a^T)
                mats = [torch.randn(d, d, generator=gen, dtype=torch.float64)
                        * (0.5 / math.sqrt(d)) for _ in range(a)]
            else:
                mats = [torch.linalg.qr(torch.randn(d, d, generator=gen,
                                                    dtype=torch.float64))[0]
                        for _ in range(a)]
            self.transitions = nn.Parameter(torch.stack(mats).to(dtype))  # (A, d, d) W_a
        self.position_init = nn.Parameter(torch.rand(d, generator=gen).to(dtype))  # e_0 (pre)
        self.key_proj = nn.Parameter(  # W_e (d_key, d)
            (torch.randn(config.d_key, d, generator=gen) / math.sqrt(d)).to(dtype))
        self.value_embed = nn.Parameter(  # W_x as an embedding (n_symbols, d_value)
            (torch.randn(config.n_symbols, config.d_value, generator=gen)
             / math.sqrt(config.d_value)).to(dtype))
        if config.d_value == config.n_symbols:  # start from v = x (one-hot values)
            with torch.no_grad():
                self.value_embed.copy_(torch.eye(config.n_symbols, dtype=dtype))
        self.out_weight = nn.Parameter(  # W_o (n_symbols, d_value)
            (torch.randn(config.n_symbols, config.d_value, generator=gen)
             / math.sqrt(config.d_value)).to(dtype))
        self.out_bias = nn.Parameter(torch.zeros(config.n_symbols, dtype=dtype))  # c_o
        # b = softplus(theta) -> theta = log(exp(b) - 1)
        self.beta_param = nn.Parameter(
            torch.tensor(math.log(math.expm1(config.beta_init)), dtype=dtype))
        self.null_score = nn.Parameter(torch.tensor(0.5, dtype=dtype))  # s_0
        self.null_value = nn.Parameter(torch.zeros(config.d_value, dtype=dtype))  # v_0
        # landmark correction: b_c = softplus(theta_c), beta_x, threshold c_0
        self.correction_beta_param = nn.Parameter(
            torch.tensor(math.log(math.expm1(config.correction_beta_init)), dtype=dtype))
        self.symbol_match = nn.Parameter(torch.tensor(config.symbol_match_init, dtype=dtype))
        self.correction_threshold = nn.Parameter(torch.tensor(0.5, dtype=dtype))
        if config.transition == "cyclic":
            # fixed e_0: one-hot at phase 0 of every module
            e0 = torch.zeros(d, dtype=dtype)
            offsets = [0, *itertools.accumulate(config.module_units)][:-1]
            e0[offsets] = 1.0
            self.register_buffer("cyclic_origin", e0, persistent=False)
            self._circulant = [group_difference_index(P, config.module_rank)
                               for P in config.module_sizes]
        self._progress = 0  # optimiser steps so far (ramps the kernel entropy penalty)
        if config.kernel_temperature_final is not None:  # annealed tau, saved with the model
            self.register_buffer("kernel_tau", torch.tensor(float(config.kernel_temperature)))
        # module dropout draws from (seed, step): reproducible and unchanged by a resume
        self._dropout_seed = child_seed(seed, "tem-t", "module-dropout")
        if device is not None:
            self.to(device)

    def set_progress(self, step: int) -> None:
        r"""Optimiser steps taken so far.

        They switch on :math:`\lambda_H` of cyclic modules and anneal their kernel temperature.
        """
        self._progress = int(step)
        final = self.config.kernel_temperature_final
        if final is not None:
            tau = self.config.kernel_temperature
            self.kernel_tau.fill_(tau * (final / tau) ** self._ramp())

    def _ramp(self) -> float:
        r"""How far the entropy penalty and the temperature annealing have come.

        :math:`r = \operatorname{clip}((s - s_H) / s_H, 0, 1)` at the current optimiser step
        :math:`s` (1 when :math:`s_H = 0`).
        """
        start = self.config.kernel_entropy_start
        return min(1.0, max(0.0, (self._progress - start) / start)) if start else 1.0

    @property
    def kernel_temperature(self) -> float:
        r"""The shift kernels' temperature now.

        :math:`\tau` or, with ``kernel_temperature_final``, :math:`\tau (\tau_\mathrm{end} /
        \tau)^{r}` with :math:`r = \operatorname{clip}((s - s_H) / s_H, 0, 1)` at optimiser step
        :math:`s` (stored with the model, so a loaded checkpoint keeps its final temperature).
        """
        if self.config.kernel_temperature_final is None:
            return self.config.kernel_temperature
        return float(self.kernel_tau)

    # ------------------------------------------------------------------ pieces
    def shift_kernels(self) -> list[torch.Tensor]:
        r"""Shift kernels of the cyclic modules: one ``(n_actions, P_m^R)`` tensor per module.

        :math:`\kappa_{a,m} = \mathrm{softmax}(\theta_{a,m} / \tau)` (stay: one-hot at shift 0
        unless ``learn_stay``).

        Raises
        ------
        ValueError
            If the model's transitions are not ``"cyclic"``.
        """
        if self.config.transition != "cyclic":
            raise ValueError(f"shift kernels exist only for transition='cyclic', this model "
                             f"has {self.config.transition!r} transitions")
        out = []
        for logits in torch.split(self.transitions, list(self.config.module_units), dim=1):
            kernel = torch.softmax(logits / self.kernel_temperature, dim=1)  # (A, P^R)
            if not self.config.learn_stay:
                stay = torch.zeros_like(kernel[:1])
                stay[:, 0] = 1.0
                kernel = torch.cat([stay, kernel[1:]], dim=0)
            out.append(kernel)
        return out

    @torch.no_grad()
    def quantise_kernels(self) -> None:
        r"""Make every shift kernel one-hot at its most probable shift (in place).

        Afterwards each action is an exact group action :math:`p \mapsto p + k_{a,m}` at any
        temperature (logits 0 at the shift, :math:`-10^4` elsewhere); a one-hot code stays
        one-hot, so sharpening does nothing. Used to export a trained checkpoint whose
        learned shifts are path-consistent (:func:`models.tem_training.export_checkpoint`).

        Raises
        ------
        ValueError
            If the model's transitions are not ``"cyclic"``.
        """
        kernels = self.shift_kernels()
        logits = torch.full_like(self.transitions, -1e4)
        offset = 0
        for kernel, units in zip(kernels, self.config.module_units, strict=True):
            rows = torch.arange(kernel.shape[0], device=logits.device)
            logits[rows, offset + kernel.argmax(1)] = 0.0
            offset += units
        self.transitions.copy_(logits)

    def _cyclic_matrices(self) -> torch.Tensor:
        """``(A, d, d)`` block-diagonal circulant matrices of the shift kernels."""
        blocks = [kernel[:, index.to(kernel.device)]  # (A, P, P)
                  for kernel, index in zip(self.shift_kernels(), self._circulant, strict=True)]
        return torch.stack([torch.block_diag(*(b[a] for b in blocks))
                            for a in range(self.config.n_actions)])

    def kernel_entropy(self) -> torch.Tensor:
        r"""Mean normalised entropy of the shift kernels over the moving actions and the modules.

        :math:`H(\kappa_{a,m}) / \log P_m^R`; 0: every kernel one-hot, i.e. exact shifts.
        """
        terms = []
        for kernel, units in zip(self.shift_kernels(), self.config.module_units, strict=True):
            k = kernel[1:]
            terms.append(-(k * torch.log(k.clamp_min(1e-12))).sum(1) / math.log(units))
        return torch.cat(terms).mean()

    def _sharpen(self, position: torch.Tensor) -> torch.Tensor:
        r"""Module sharpening of cyclic modules.

        :math:`e_m \leftarrow e_m^\gamma / \sum_p e_m[p]^\gamma` (``module_sharpening``
        :math:`\gamma`; identity for :math:`\gamma = 1` and for one-hot modules).
        """
        gamma = self.config.module_sharpening
        if gamma == 1.0:
            return position
        blocks = torch.split(position.clamp_min(0.0), list(self.config.module_units), dim=-1)
        return torch.cat([F.normalize(b ** gamma, p=1, dim=-1) for b in blocks], dim=-1)

    @property
    def _activation(self) -> str:
        """The nonlinearity of path integration (none for cyclic modules)."""
        return "linear" if self.config.transition == "cyclic" else self.config.position_activation

    @property
    def correction_beta_scale(self) -> torch.Tensor:
        """The learned scale :math:`b_c` of the landmark-correction softmax."""
        return F.softplus(self.correction_beta_param)

    @property
    def beta_scale(self) -> torch.Tensor:
        r"""The learned scale :math:`b` of :math:`\beta_t = b \log(1 + N_t)`."""
        return F.softplus(self.beta_param)

    def action_matrices(self) -> torch.Tensor:
        """``(n_actions, d, d)`` the matrices :math:`W_a` (identity for stay unless learned)."""
        if self.config.transition == "cyclic":
            return self._cyclic_matrices()
        mats = self.transitions
        if self.config.transition == "orthogonal":
            mats = torch.linalg.matrix_exp(mats - mats.transpose(1, 2))
        if self.config.learn_stay:
            return mats
        eye = torch.eye(self.config.d_position, device=mats.device, dtype=mats.dtype)
        return torch.cat([eye.unsqueeze(0), mats[1:]], dim=0)

    def initial_position(self, batch: int) -> torch.Tensor:
        r"""``(batch, d)`` the initial code :math:`e_0 = \sigma(\hat e_0)`.

        Cyclic modules: one-hot at phase 0 of every module.
        """
        if self.config.transition == "cyclic":
            return self.cyclic_origin.unsqueeze(0).expand(batch, -1)
        e0 = _activate(self.position_init.unsqueeze(0), self.config.position_activation)
        return e0.expand(batch, -1)

    def keys(self, position: torch.Tensor) -> torch.Tensor:
        r"""Keys (= queries) :math:`k = W_e e / \lVert W_e e \rVert`, ``(..., d_key)``.

        With ``key_projection=False``: :math:`k = e / \lVert e \rVert`, ``(..., d_position)``.
        """
        if not self.config.key_projection:
            return F.normalize(position, dim=-1)
        return F.normalize(position @ self.key_proj.T, dim=-1)

    def _queries(self, keys: torch.Tensor) -> torch.Tensor:
        r"""Queries of a window, ``(B, W, d)``: the keys, with module dropout in training.

        With ``module_dropout`` :math:`p` (training only), each walk keeps each module with
        probability :math:`1 - p` for the window (at least one module is kept) and the query
        is :math:`q = (k \odot m) / \bar m`, with :math:`m` the kept modules' units and
        :math:`\bar m` the fraction of modules kept: :math:`q \cdot k` is the fraction of
        *kept* modules in the same phase, 1 at the stored position as without dropout.
        """
        p = self.config.module_dropout
        if not (p and self.training):
            return keys
        B, M = keys.shape[0], len(self.config.module_sizes)
        gen = torch_generator(self._dropout_seed, self._progress)
        keep = torch.rand(B, M, generator=gen) >= p
        keep[torch.arange(B), torch.randint(M, (B,), generator=gen)] = True  # keep at least one
        keep = keep.to(keys.device)
        units = torch.tensor(self.config.module_units, device=keys.device)
        mask = torch.repeat_interleave(keep.to(keys.dtype), units, dim=1)  # (B, d)
        scale = M / keep.sum(1, keepdim=True).to(keys.dtype)  # 1 / fraction kept
        return keys * (mask * scale).unsqueeze(1)

    def values(self, observations: torch.Tensor) -> torch.Tensor:
        r"""Values :math:`v = W_x \mathbf{x}` of integer symbols, ``(..., d_value)``."""
        return self.value_embed[observations]

    def path_integrate(self, position: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Positions ``(B, W, d)`` after each of the actions ``(B, W)`` from ``position``."""
        mats = self.action_matrices()
        out = []
        e = position
        for t in range(actions.shape[1]):
            moved = self._sharpen(position_step(e, mats[actions[:, t]], self._activation))
            if not self.config.learn_stay:  # stay: e_{t+1} = e_t exactly
                moved = torch.where((actions[:, t] == 0).unsqueeze(-1), e, moved)
            e = moved
            out.append(e)
        return torch.stack(out, dim=1)

    # ------------------------------------------------------------------ walk model
    def begin(self, observations: Any) -> TEMTState:
        """State after the first observations ``(B,)``: :math:`e_0` and its memory."""
        obs = self.check_first(observations)
        e0 = self.initial_position(obs.shape[0])
        return TEMTState(position=e0, keys=self.keys(e0).unsqueeze(1),
                         values=self.values(obs).unsqueeze(1), positions=e0.unsqueeze(1),
                         symbols=obs.unsqueeze(1))

    def forward(self, state: TEMTState, actions: Any, observations: Any, *,
                record: bool = False) -> WindowOutput:
        r"""Path-integrate a window of actions, predict each observation, then store it.

        Parameters
        ----------
        state
            :class:`TEMTState` from :meth:`begin` or the previous window.
        actions
            ``(B, W)`` actions :math:`a_t, \dots, a_{t+W-1}`.
        observations
            ``(B, W)`` observations :math:`x_{t+1}, \dots, x_{t+W}` they lead to (the targets;
            each is stored only after it has been predicted).
        record
            Also return ``"position"`` ``(B, W, d)`` and ``"memory_activity"``
            ``(B, W, N + W)`` (the memory neurons' activities, :math:`w_{t+1, \tau}`; zero for
            memories not stored yet; the null memory is left out).
        """
        if not isinstance(state, TEMTState):
            raise TypeError(f"state must be a TEMTState, got {type(state).__name__}")
        B = state.position.shape[0]
        actions, observations = self.check_window(B, actions, observations)
        if self.config.position_correction:
            return self._forward_corrected(state, actions, observations, record)
        W = actions.shape[1]
        positions = self.path_integrate(state.position, actions)  # (B, W, d)
        new_keys = self.keys(positions)  # (B, W, d_key)
        new_values = self.values(observations)  # (B, W, d_value)
        keys = torch.cat([state.keys, new_keys], dim=1)  # (B, N + W, d_key)
        values = torch.cat([state.values, new_values], dim=1)  # (B, N + W, d_value)
        N = state.n_memories
        scores = self._queries(new_keys) @ keys.transpose(1, 2)  # (B, W, N + W) cosine q . k
        # query i (predicting x_{t+i+1}) sees the N earlier memories and window memories < i
        causal = torch.ones(W, N + W, dtype=torch.bool, device=scores.device)
        causal[:, N:] = torch.ones(W, W, dtype=torch.bool, device=scores.device).tril(-1)
        n_mem = N + torch.arange(W, device=scores.device, dtype=scores.dtype)  # N_t
        beta = (self.beta_scale * torch.log1p(n_mem)).view(1, W, 1)  # beta_t = b log(1 + N_t)
        scores = (beta * scores).masked_fill(~causal, float("-inf"))
        memory_activity, null = self._attend(scores, beta * self.null_score)
        readout = memory_activity @ values  # (B, W, d_value)
        if null is not None:
            readout = readout + null
        logits = readout @ self.out_weight.T + self.out_bias  # (B, W, n_symbols)
        new_state = TEMTState(position=positions[:, -1], keys=keys, values=values,
                              positions=torch.cat([state.positions, positions], dim=1),
                              symbols=torch.cat([state.symbols, observations], dim=1))
        return self._output(logits, observations, new_state, record, positions,
                            memory_activity)

    def _attend(self, scores: torch.Tensor,
                null_score: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        r"""Softmax of ``scores`` ``(..., N)`` over the memories, with the null memory.

        With ``null_memory`` the null slot (score ``null_score``, value :math:`v_0`) joins
        the softmax; returns the memories' weights ``(..., N)`` and the null slot's share of
        the readout ``(..., d_value)`` (``None`` without a null memory).
        """
        if not self.config.null_memory:
            return torch.softmax(scores, dim=-1), None
        null = null_score.expand(*scores.shape[:-1], 1)
        weights = torch.softmax(torch.cat([scores, null], dim=-1), dim=-1)
        return weights[..., :-1], weights[..., -1:] * self.null_value

    @torch.no_grad()
    def imagine(self, state: TEMTState, walks: torch.Tensor, starts: torch.Tensor,
                actions: torch.Tensor) -> torch.Tensor:
        r"""Logits of what lies at the end of ``actions`` taken in imagination from a memory.

        Query ``q`` starts from the position code stored with memory ``starts[q]`` of walk
        ``walks[q]`` (:math:`e_\tau`), path-integrates ``actions[q]`` without observing
        anything (no landmark correction, nothing stored) and reads out walk ``walks[q]``'s
        whole memory at the imagined position, with :math:`\beta = b \log(1 + N)`:

        .. math:: \hat x = \sum_\tau \mathrm{softmax}_\tau(\beta\, k(W_{a_k} \cdots
                  W_{a_1} e_{\tau_0}) \cdot k_\tau)\, v_\tau .

        Parameters
        ----------
        state
            The state after a walk (:meth:`forward`).
        walks, starts
            ``(Q,)`` walk index in the batch and memory index (the step) of each start.
        actions
            ``(Q, K)`` the imagined actions.

        Returns
        -------
        torch.Tensor
            ``(Q, n_symbols)`` logits.
        """
        walks, starts, actions = (torch.as_tensor(x, device=self.device)
                                  for x in (walks, starts, actions))
        if actions.dim() != 2 or walks.shape != starts.shape or walks.shape[0] != \
                actions.shape[0]:
            raise ValueError(f"imagine: walks and starts (Q,), actions (Q, K); got "
                             f"{tuple(walks.shape)}, {tuple(starts.shape)}, "
                             f"{tuple(actions.shape)}")
        e = self.path_integrate(state.positions[walks, starts], actions)[:, -1]
        cos = (state.keys[walks] @ self.keys(e).unsqueeze(-1)).squeeze(-1)  # (Q, N)
        beta = self.beta_scale * math.log1p(state.n_memories)
        weights, null = self._attend(beta * cos, beta * self.null_score)
        readout = (weights.unsqueeze(1) @ state.values[walks]).squeeze(1)
        if null is not None:
            readout = readout + null
        return readout @ self.out_weight.T + self.out_bias

    def transition_penalty(self) -> torch.Tensor:
        r"""Transition penalty, averaged over the moving actions.

        :math:`\lVert W_a - I \rVert_F^2` (dense) or :math:`\lVert S_a - S_a^\top \rVert_F^2`
        (orthogonal: the squared rotation angles).
        """
        if self.config.transition == "orthogonal":
            gen = self.transitions[1:] - self.transitions[1:].transpose(1, 2)
            return (gen ** 2).sum((1, 2)).mean()
        eye = torch.eye(self.config.d_position, device=self.transitions.device,
                        dtype=self.transitions.dtype)
        return ((self.transitions[1:] - eye) ** 2).sum((1, 2)).mean()

    def _output(self, logits: torch.Tensor, observations: torch.Tensor, state: TEMTState,
                record: bool, positions: torch.Tensor,
                memory_activity: torch.Tensor) -> WindowOutput:
        ce = F.cross_entropy(logits.reshape(-1, self.n_symbols), observations.reshape(-1))
        terms = {"cross_entropy": float(ce.detach())}
        loss = ce
        if self.config.transition_regulariser > 0 and self.config.transition != "cyclic":
            penalty = self.config.transition_regulariser * self.transition_penalty()
            terms["transition"] = float(penalty.detach())
            loss = loss + penalty
        if self.config.transition == "cyclic" and self.config.kernel_entropy > 0:
            penalty = self.config.kernel_entropy * self._ramp() * self.kernel_entropy()
            terms["kernel_entropy"] = float(penalty.detach())
            loss = loss + penalty
        out = WindowOutput(logits=logits, loss=loss, state=state, terms=terms)
        if record:
            out.record = {"position": positions.detach(),
                          "memory_activity": memory_activity.detach()}
        return out

    def _forward_corrected(self, state: TEMTState, actions: torch.Tensor,
                           observations: torch.Tensor, record: bool) -> WindowOutput:
        """Step-by-step window with the landmark correction of the position code."""
        B, W = actions.shape
        N = state.n_memories
        mats = self.action_matrices()
        act = self._activation
        b_pred, b_corr = self.beta_scale, self.correction_beta_scale
        keys_w: list[torch.Tensor] = []
        values_w: list[torch.Tensor] = []
        pos_w: list[torch.Tensor] = []
        logits, activities, corrected = [], [], []
        e = state.position
        for t in range(W):
            a, x = actions[:, t], observations[:, t]
            e_pi = self._sharpen(position_step(e, mats[a], act))
            if not self.config.learn_stay:
                e_pi = torch.where((a == 0).unsqueeze(-1), e, e_pi)
            q = self.keys(e_pi)  # (B, d_key)
            cos = state.keys @ q.unsqueeze(-1)  # (B, N, 1)
            if keys_w:
                cos = torch.cat([cos, torch.stack(keys_w, 1) @ q.unsqueeze(-1)], dim=1)
            cos = cos.squeeze(-1)  # (B, N + t)
            log_n = math.log1p(N + t)  # beta grows like log(#memories)
            scores = b_pred * log_n * cos
            values_now = torch.stack(values_w, 1) if values_w else None
            w, null = self._attend(scores, b_pred * log_n * self.null_score)
            readout = 0.0 if null is None else null
            # readout over the past memories and the window's, without concatenating values
            readout = readout + (w[:, :N].unsqueeze(1) @ state.values).squeeze(1)
            if values_now is not None:
                readout = readout + (w[:, N:].unsqueeze(1) @ values_now).squeeze(1)
            logits.append(readout @ self.out_weight.T + self.out_bias)
            if record:
                activities.append(F.pad(w.detach(), (0, W - t)))
            # landmark correction: memories of the same symbol near the path-integrated code
            match = state.symbols == x.unsqueeze(1)
            if t:
                match = torch.cat([match, observations[:, :t] == x.unsqueeze(1)], dim=1)
            c_scores = b_corr * log_n * cos + self.symbol_match * match.to(cos.dtype)
            c_null = (b_corr * log_n * self.correction_threshold + self.symbol_match).expand(B, 1)
            wc = torch.softmax(torch.cat([c_scores, c_null], 1), 1)
            e = (wc[:, :N].unsqueeze(1) @ state.positions).squeeze(1) + wc[:, -1:] * e_pi
            if pos_w:
                e = e + (wc[:, N:-1].unsqueeze(1) @ torch.stack(pos_w, 1)).squeeze(1)
            if act in ("norm", "relu_norm"):
                e = e / (e.norm(dim=-1, keepdim=True) + 1e-6)
            corrected.append(e)
            keys_w.append(self.keys(e))
            values_w.append(self.values(x))
            pos_w.append(e)
        positions = torch.stack(corrected, 1)
        new_state = TEMTState(
            position=e, keys=torch.cat([state.keys, torch.stack(keys_w, 1)], 1),
            values=torch.cat([state.values, torch.stack(values_w, 1)], 1),
            positions=torch.cat([state.positions, positions], 1),
            symbols=torch.cat([state.symbols, observations], 1))
        activity = torch.stack(activities, 1) if record else positions.new_zeros(0)
        return self._output(torch.stack(logits, 1), observations, new_state, record, positions,
                            activity)

    def state_position(self, state: TEMTState) -> torch.Tensor:
        """``(B, d_position)`` the position code :math:`e_t` of a state."""
        return state.position

    def detach_state(self, state: TEMTState) -> TEMTState:
        """The state with every tensor detached."""
        return TEMTState(position=state.position.detach(), keys=state.keys.detach(),
                         values=state.values.detach(), positions=state.positions.detach(),
                         symbols=state.symbols)
