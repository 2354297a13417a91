r"""Sparse distributed memory as an MLP, a ReLU MLP baseline, and class-incremental learning.

Bricken, Davies, Singh, Krotov & Kreiman, "Sparse Distributed Memory is a Continual Learner"
(ICLR 2023) write one SDM read as a two-layer network whose hidden units are the *hard
locations* (neurons):

.. math::

    y = W_\mathrm{out}\, \mathrm{TopK}\!\left(\mathrm{ReLU}\!\left(W_\mathrm{in}
        \frac{x}{\lVert x \rVert}\right)\right)

- the rows of :math:`W_\mathrm{in}` are the neurons' *addresses*, kept L2-normalised and
  non-negative, so :math:`a_i = w_i \cdot \hat x` is the cosine between the query and the
  address of neuron :math:`i` (a cosine threshold is a Hamming radius, SCIENCE.md section 1);
- Top-k keeps the :math:`k` neurons closest to the query (the radius :math:`d` chosen so that
  :math:`k` neurons fire);
- the columns of :math:`W_\mathrm{out}` are the neurons' *values* (the SDM counters, the
  Purkinje-cell weights); there are no biases.

The **GABA switch** is the inhibitory interneuron that implements Top-k. It subtracts
:math:`g_i I` from neuron :math:`i`, where :math:`I` is the :math:`(k+1)`-th largest
activation of the current input and

.. math::

    g_i = \mathrm{clip}\!\left(-1 + \frac{2 c_i}{T},\ -1,\ 1\right)

grows with the number :math:`c_i` of training inputs for which neuron :math:`i` was active.
A neuron that has never fired gets :math:`g_i = -1`: the interneuron *excites* it by
:math:`I`, so it wins the competition, is trained, and no neuron dies. After :math:`T`
activations :math:`g_i = 1` and :math:`a_i - I > 0` only for the :math:`k` largest
activations: plain Top-k.

Implementation choices (documented where they differ from the reference code of the paper,
github.com/TrentBrick/SDMContinualLearner, ``models/TopK_Act.py``):

- :func:`topk_gaba` with ``exact_k=True`` (the default) applies a hard Top-k *after* the GABA
  shift, so exactly :math:`k` neurons fire for every input at every stage of training; the
  neurons with :math:`g_i < 1` are favoured in that competition (boosted by up to
  :math:`2I` over saturated ones). ``exact_k=False`` reproduces the reference code, which
  keeps every neuron with :math:`a_i - g_i I > 0` (dense early in training, Top-k once every
  :math:`g_i = 1`).
- :math:`I` is treated as a constant in the backward pass (it is detached in the reference
  code): gradients reach only the active neurons, through :math:`a_i`.
- The constraint on :math:`W_\mathrm{in}` is a projection applied after every optimiser step
  (:meth:`SDMMLP.project_`): clamp at 0, then divide each row by its L2 norm, as the
  reference code does after every batch. The reference code also clamps the output weights
  at 0 (``all_positive_weights``); here that is the option ``positive_values`` (off by
  default, as in the brief of SCIENCE.md section 2).
- Counts :math:`c_i` are updated only in training mode (the reference code counts during
  validation too).

This module also generates a synthetic class-incremental task (no downloads), trains either
model task after task with plain SGD (no momentum, as the paper does for continual
learning), and measures final accuracy and forgetting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from models._checks import as_tensor, check_batch, check_bool, check_int, check_real
from models.seeding import SeedLike, torch_generator

__all__ = [
    "SDMMLP",
    "ClassIncrementalData",
    "ClassIncrementalTask",
    "ContinualResult",
    "ReLUMLP",
    "evaluate_tasks",
    "forgetting",
    "gaba_coefficients",
    "make_class_incremental_task",
    "project_addresses_",
    "topk_gaba",
    "train_class_incremental",
]

_EPS = 1e-12


# ----------------------------------------------------------------------------------------
# Pure functions
# ----------------------------------------------------------------------------------------

def gaba_coefficients(counts: torch.Tensor, switch_activations: float, *,
                      dtype: torch.dtype | None = None) -> torch.Tensor:
    r"""The GABA switch coefficient of each neuron from its activity count.

    .. math:: g_i = \mathrm{clip}\!\left(-1 + \frac{2 c_i}{T},\ -1,\ 1\right)

    Parameters
    ----------
    counts
        ``(r,)`` number of training inputs for which each neuron was active, :math:`c_i \ge 0`.
    switch_activations
        :math:`T > 0`, the count at which a neuron's interneuron input has turned from fully
        excitatory (:math:`g = -1`) to fully inhibitory (:math:`g = +1`); :math:`g = 0` at
        :math:`T/2`.
    dtype
        Floating dtype of the result (default: float32, or that of ``counts`` if floating).

    Returns
    -------
    torch.Tensor
        ``(r,)`` coefficients in [-1, 1], on the device of ``counts``.
    """
    counts = as_tensor("counts", counts)
    switch_activations = check_real("switch_activations", switch_activations, minimum=0.0,
                                    strict_minimum=True)
    if counts.numel() and bool((counts < 0).any()):
        raise ValueError("counts must be >= 0")
    if dtype is None:
        dtype = counts.dtype if counts.is_floating_point() else torch.float32
    c = counts.to(torch.float64)
    g = (-1.0 + 2.0 * c / switch_activations).clamp(-1.0, 1.0)
    return g.to(dtype)


def topk_gaba(activations: torch.Tensor, k: int, gaba: torch.Tensor | float | None = None,
              *, exact_k: bool = True) -> torch.Tensor:
    r"""ReLU, GABA-switch inhibition by the :math:`(k+1)`-th activation, then Top-k.

    With :math:`a^+ = \mathrm{ReLU}(a)` and :math:`I = a^+_{(k+1)}` the :math:`(k+1)`-th
    largest entry of each row (a constant for the gradient),

    .. math::

        z_i = \mathrm{ReLU}\!\left(a^+_i - g_i I\right), \qquad
        h = \mathrm{TopK}_k(z) \quad (\text{other entries set to } 0).

    ``gaba=None`` (or 1) is plain Top-k without the switch: :math:`g_i = 1`, so
    :math:`z_i > 0` only for the :math:`k` largest activations and the output is
    :math:`a^+_i - I` on them.

    Parameters
    ----------
    activations
        ``(batch, r)`` pre-activations :math:`a = W_\mathrm{in} \hat x`.
    k
        Number of active neurons, :math:`1 \le k < r`.
    gaba
        ``(r,)`` coefficients :math:`g_i` (see :func:`gaba_coefficients`), a scalar, or None.
    exact_k
        Keep only the :math:`k` largest :math:`z_i` (True, default). False keeps every
        :math:`z_i > 0`, as the paper's reference code does: more than :math:`k` neurons may
        fire while some :math:`g_i < 1`.

    Returns
    -------
    torch.Tensor
        ``(batch, r)``; at most :math:`k` positive entries per row when ``exact_k`` (exactly
        :math:`k` unless activations tie or fewer than :math:`k+1` are positive).
    """
    if not isinstance(activations, torch.Tensor):
        raise TypeError(f"activations must be a torch.Tensor, got {type(activations).__name__}")
    if activations.dim() != 2:
        raise ValueError(f"activations must be a (batch, r) matrix, got shape "
                         f"{tuple(activations.shape)}")
    r = activations.shape[1]
    k = check_int("k", k, minimum=1)
    if k >= r:
        raise ValueError(f"k must be < the number of neurons r={r} (the (k+1)-th activation "
                         f"sets the inhibition), got {k}")
    positive = torch.relu(activations)
    # (batch, k+1) largest values; the last column is I, the (k+1)-th largest.
    inhibition = torch.topk(positive, k + 1, dim=1).values[:, -1:].detach()  # (batch, 1)
    if gaba is None:
        g: torch.Tensor | float = 1.0
    elif isinstance(gaba, torch.Tensor):
        if gaba.dim() == 0:
            g = gaba.to(positive.dtype)
        elif gaba.shape != (r,):
            raise ValueError(f"gaba must have shape ({r},) (one coefficient per neuron), got "
                             f"{tuple(gaba.shape)}")
        else:
            g = gaba.to(device=positive.device, dtype=positive.dtype).unsqueeze(0)  # (1, r)
    else:
        g = check_real("gaba", gaba, minimum=-1.0, maximum=1.0)
    shifted = torch.relu(positive - g * inhibition)  # (batch, r)
    if not exact_k:
        return shifted
    keep = torch.topk(shifted, k, dim=1).indices  # (batch, k)
    mask = torch.zeros_like(shifted).scatter_(1, keep, 1.0)
    return shifted * mask


@torch.no_grad()
def project_addresses_(weight: torch.Tensor) -> torch.Tensor:
    r"""Project address rows in place onto the non-negative part of the unit sphere.

    .. math:: w_i \leftarrow \frac{\max(w_i, 0)}{\lVert \max(w_i, 0) \rVert_2}

    A row left with no positive entry (possible only after a very large step) is reset to
    the uniform unit vector :math:`1/\sqrt{n}`, so every row stays a unit vector.

    Parameters
    ----------
    weight
        ``(r, n)`` address matrix :math:`W_\mathrm{in}`, modified in place.

    Returns
    -------
    torch.Tensor
        ``weight`` itself.
    """
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise ValueError("weight must be an (r, n) tensor")
    weight.clamp_(min=0.0)
    norms = weight.norm(dim=1, keepdim=True)  # (r, 1)
    empty = norms.squeeze(1) <= _EPS
    if bool(empty.any()):
        weight[empty] = 1.0 / math.sqrt(weight.shape[1])
        norms = weight.norm(dim=1, keepdim=True)
    weight.div_(norms)
    return weight


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator) -> torch.Tensor:
    """U(-bound, bound) on the CPU from ``generator`` (PyTorch's default Linear init range)."""
    return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound


def _check_device_dtype(dtype: torch.dtype) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    return dtype


def _check_input(model: nn.Module, x: torch.Tensor, n: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    weight = next(model.parameters())
    return check_batch("x", x, length=n, what="in_features", device=weight.device,
                       dtype=weight.dtype)[0]


# ----------------------------------------------------------------------------------------
# Modules
# ----------------------------------------------------------------------------------------

class _CountedHidden(nn.Module):
    """Shared part of the two networks: ``forward`` counts each hidden unit's activity.

    Subclasses define ``encode(x) -> hidden`` and ``readout(hidden) -> outputs`` and keep an
    int64 buffer ``activity_counts`` of shape ``(hidden,)``.
    """

    activity_counts: torch.Tensor

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def readout(self, hidden: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(batch, out)``; in training mode, also count each neuron's activity."""
        hidden = self.encode(x)
        if self.training:
            with torch.no_grad():
                self.activity_counts += (hidden > 0).sum(dim=0)
        return self.readout(hidden)

    @property
    def dead_neurons(self) -> int:
        """Number of hidden units never active during training (:math:`c_i = 0`)."""
        return int((self.activity_counts == 0).sum())


class SDMMLP(_CountedHidden):
    r"""SDM as a two-layer network with Top-k and the GABA switch.

    .. math::

        y = W_\mathrm{out}\, \mathrm{TopK}_k\!\left(\mathrm{ReLU}\!\left(
            W_\mathrm{in} \hat x\right) - g \odot I\right), \qquad
        \hat x = x / \lVert x \rVert

    Parameters
    ----------
    in_features
        :math:`n`, input (query) dimension.
    hidden
        :math:`r`, number of neurons (hard locations).
    out_features
        Output (value) dimension, e.g. number of classes.
    k
        Active neurons per input, :math:`1 \le k < r`.
    switch_activations
        :math:`T`, activity count at which a neuron's GABA coefficient reaches +1.
    gaba
        Use the GABA switch (True) or plain Top-k with :math:`g_i = 1` (False).
    exact_k
        Hard Top-k after the GABA shift (see :func:`topk_gaba`).
    positive_values
        Also clamp :math:`W_\mathrm{out} \ge 0` after each step (the reference code does).
    seed
        Seed for the initial weights.
    device, dtype
        Where and in what precision the parameters live.

    Notes
    -----
    Initialisation follows the reference code: entries of :math:`W_\mathrm{in}` drawn from
    :math:`U(-1/\sqrt n, 1/\sqrt n)`, clamped at 0 (about half become 0) and rows
    normalised; :math:`W_\mathrm{out}` from :math:`U(-1/\sqrt r, 1/\sqrt r)` (clamped at 0
    when ``positive_values``). Call :meth:`project_` after every optimiser step.
    """

    def __init__(self, in_features: int, hidden: int, out_features: int, k: int, *,
                 switch_activations: float = 1000.0, gaba: bool = True, exact_k: bool = True,
                 positive_values: bool = False, seed: SeedLike = None,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.in_features = check_int("in_features", in_features, minimum=1)
        self.hidden = check_int("hidden", hidden, minimum=2)
        self.out_features = check_int("out_features", out_features, minimum=1)
        self.k = check_int("k", k, minimum=1)
        if self.k >= self.hidden:
            raise ValueError(f"k must be < hidden={self.hidden} (the (k+1)-th activation sets "
                             f"the inhibition), got {self.k}")
        self.switch_activations = check_real("switch_activations", switch_activations,
                                             minimum=0.0, strict_minimum=True)
        self.gaba = check_bool("gaba", gaba)
        self.exact_k = check_bool("exact_k", exact_k)
        self.positive_values = check_bool("positive_values", positive_values)
        dtype = _check_device_dtype(dtype)
        generator = torch_generator(seed, "sdm_mlp", "init")
        w_in = _uniform((self.hidden, self.in_features), 1 / math.sqrt(self.in_features),
                        generator)
        w_out = _uniform((self.out_features, self.hidden), 1 / math.sqrt(self.hidden),
                         generator)
        #: W_in, (r, n): rows are the neurons' addresses (unit norm, non-negative).
        self.addresses = nn.Parameter(w_in.to(device=device, dtype=dtype))
        #: W_out, (out, r): columns are the neurons' values (SDM counters).
        self.values = nn.Parameter(w_out.to(device=device, dtype=dtype))
        #: c_i, (r,): training inputs for which neuron i was active.
        self.register_buffer("activity_counts",
                             torch.zeros(self.hidden, dtype=torch.int64, device=device))
        self.project_()

    @torch.no_grad()
    def project_(self) -> None:
        """Apply the constraints after an optimiser step (rows of W_in: >= 0, unit norm)."""
        project_addresses_(self.addresses)
        if self.positive_values:
            self.values.clamp_(min=0.0)

    def gaba_coefficients(self) -> torch.Tensor:
        """Current :math:`g_i` of every neuron, ``(r,)`` (all ones when ``gaba`` is off)."""
        if not self.gaba:
            return torch.ones(self.hidden, device=self.addresses.device,
                              dtype=self.addresses.dtype)
        return gaba_coefficients(self.activity_counts, self.switch_activations,
                                 dtype=self.addresses.dtype)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        r"""Hidden activity :math:`h` (``(batch, r)``) for queries ``x``; counts unchanged."""
        x = _check_input(self, x, self.in_features)
        query = x / x.norm(dim=1, keepdim=True).clamp_min(_EPS)  # (batch, n)
        activations = query @ self.addresses.T  # (batch, r): cosines
        gaba = self.gaba_coefficients() if self.gaba else None
        return topk_gaba(activations, self.k, gaba, exact_k=self.exact_k)

    def readout(self, hidden: torch.Tensor) -> torch.Tensor:
        r"""Outputs :math:`W_\mathrm{out} h`, ``(batch, out)``, from the hidden activity."""
        return hidden @ self.values.T

    def reset_counts(self) -> None:
        """Set every activity count back to 0 (the GABA switch starts over)."""
        self.activity_counts.zero_()

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, hidden={self.hidden}, "
                f"out_features={self.out_features}, k={self.k}, "
                f"switch_activations={self.switch_activations:g}, gaba={self.gaba}, "
                f"exact_k={self.exact_k}")


class ReLUMLP(_CountedHidden):
    r"""Standard one-hidden-layer ReLU network (the baseline of equal width).

    .. math:: y = W_2\, \mathrm{ReLU}(W_1 x + b_1) + b_2

    Biases, no normalisation, no constraint; PyTorch's default ``nn.Linear`` initialisation
    (:math:`U(-1/\sqrt{\mathrm{fan_{in}}}, 1/\sqrt{\mathrm{fan_{in}}})` for weights and
    biases) drawn from ``seed``. Activity counts are kept as in :class:`SDMMLP` so dead
    neurons can be compared.
    """

    def __init__(self, in_features: int, hidden: int, out_features: int, *,
                 seed: SeedLike = None, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.in_features = check_int("in_features", in_features, minimum=1)
        self.hidden = check_int("hidden", hidden, minimum=1)
        self.out_features = check_int("out_features", out_features, minimum=1)
        dtype = _check_device_dtype(dtype)
        generator = torch_generator(seed, "relu_mlp", "init")
        b1 = 1 / math.sqrt(self.in_features)
        b2 = 1 / math.sqrt(self.hidden)
        self.fc1 = nn.Linear(self.in_features, self.hidden, device=device, dtype=dtype)
        self.fc2 = nn.Linear(self.hidden, self.out_features, device=device, dtype=dtype)
        with torch.no_grad():
            for param, bound in ((self.fc1.weight, b1), (self.fc1.bias, b1),
                                 (self.fc2.weight, b2), (self.fc2.bias, b2)):
                param.copy_(_uniform(tuple(param.shape), bound, generator))
        self.register_buffer("activity_counts",
                             torch.zeros(self.hidden, dtype=torch.int64, device=device))

    def project_(self) -> None:
        """No constraint (present so both models train with the same loop)."""

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden activity ``ReLU(W_1 x + b_1)``, ``(batch, hidden)``."""
        x = _check_input(self, x, self.in_features)
        return torch.relu(self.fc1(x))

    def readout(self, hidden: torch.Tensor) -> torch.Tensor:
        """Outputs ``W_2 h + b_2``, ``(batch, out)``, from the hidden activity."""
        return self.fc2(hidden)


# ----------------------------------------------------------------------------------------
# Synthetic class-incremental task
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClassIncrementalTask:
    r"""Parameters of the synthetic class-incremental task (a Split-CIFAR-10 stand-in).

    Each class :math:`c` has a centre :math:`\mu_c \sim N(0, I_n)` and
    ``prototypes_per_class`` prototypes :math:`\mu_{c,p} = \mu_c + s\,\epsilon`;
    a sample is :math:`x = \mathrm{ReLU}(\mu_{c,p} + \sigma\,\epsilon')` with a
    prototype chosen uniformly: non-negative, like post-ReLU image embeddings. With the
    defaults a ReLU MLP trained on all classes jointly (not continually) reaches about 94%
    test accuracy, so the task is learnable but not trivial.
    """

    n_classes: int = 10            # C, number of classes (Split CIFAR-10: 10)
    classes_per_task: int = 2      # classes per task (Split CIFAR-10: 2 -> 5 tasks)
    dim: int = 64                  # n, input dimension (embedding size)
    prototypes_per_class: int = 3  # P, mixture components per class
    prototype_spread: float = 1.0  # s, std of prototypes around the class centre
    noise: float = 2.0             # sigma, per-sample Gaussian noise std (before ReLU)
    train_per_class: int = 200     # training samples per class
    test_per_class: int = 100      # test samples per class

    def validate(self) -> None:
        """Raise ValueError/TypeError naming the first bad field."""
        check_int("n_classes", self.n_classes, minimum=2)
        check_int("classes_per_task", self.classes_per_task, minimum=1)
        if self.n_classes % self.classes_per_task:
            raise ValueError(f"n_classes must be a multiple of classes_per_task="
                             f"{self.classes_per_task}, got {self.n_classes}")
        if self.n_classes // self.classes_per_task < 2:
            raise ValueError("n_classes must give at least 2 tasks "
                             f"(classes_per_task={self.classes_per_task}), got "
                             f"{self.n_classes}")
        check_int("dim", self.dim, minimum=1)
        check_int("prototypes_per_class", self.prototypes_per_class, minimum=1)
        check_real("prototype_spread", self.prototype_spread, minimum=0.0)
        check_real("noise", self.noise, minimum=0.0)
        check_int("train_per_class", self.train_per_class, minimum=1)
        check_int("test_per_class", self.test_per_class, minimum=1)

    @property
    def n_tasks(self) -> int:
        """Number of tasks, ``n_classes // classes_per_task``."""
        return self.n_classes // self.classes_per_task


@dataclass
class ClassIncrementalData:
    """A generated task: train/test tensors and which classes belong to which task.

    Task ``t`` holds classes ``task_classes[t]`` (consecutive class indices); the output head
    covers all ``n_classes`` and no task identity is given at test time.
    """

    spec: ClassIncrementalTask
    x_train: torch.Tensor  # (C * train_per_class, n)
    y_train: torch.Tensor  # (C * train_per_class,) int64
    x_test: torch.Tensor   # (C * test_per_class, n)
    y_test: torch.Tensor   # (C * test_per_class,) int64
    task_classes: tuple[tuple[int, ...], ...]

    @property
    def n_tasks(self) -> int:
        """Number of tasks."""
        return len(self.task_classes)

    def split(self, task: int, *, train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` of one task's training (or test) samples."""
        task = check_int("task", task, minimum=0, maximum=self.n_tasks - 1)
        x, y = (self.x_train, self.y_train) if train else (self.x_test, self.y_test)
        classes = torch.tensor(self.task_classes[task], device=y.device)
        mask = torch.isin(y, classes)
        return x[mask], y[mask]


def make_class_incremental_task(spec: ClassIncrementalTask | None = None, *,
                                seed: SeedLike = 0, device: torch.device | str = "cpu",
                                dtype: torch.dtype = torch.float32) -> ClassIncrementalData:
    r"""Generate the synthetic class-incremental task (deterministic under ``seed``).

    .. math::

        \mu_c \sim N(0, I_n), \quad \mu_{c,p} = \mu_c + s\,\epsilon_{c,p}, \quad
        x = \mathrm{ReLU}(\mu_{c,p} + \sigma \epsilon), \; p \sim U\{1..P\}

    Parameters
    ----------
    spec
        Task parameters (default :class:`ClassIncrementalTask()`).
    seed
        Seed; all draws happen on the CPU in float64, so one seed gives the same data on
        every device.
    device, dtype
        Where and as what the inputs are returned (labels are int64).

    Returns
    -------
    ClassIncrementalData
    """
    spec = ClassIncrementalTask() if spec is None else spec
    if not isinstance(spec, ClassIncrementalTask):
        raise TypeError(f"spec must be a ClassIncrementalTask, got {type(spec).__name__}")
    spec.validate()
    dtype = _check_device_dtype(dtype)
    gen = torch_generator(seed, "class_incremental_task")
    c, n, p = spec.n_classes, spec.dim, spec.prototypes_per_class
    centres = torch.randn((c, 1, n), generator=gen, dtype=torch.float64)
    prototypes = centres + spec.prototype_spread * torch.randn((c, p, n), generator=gen,
                                                               dtype=torch.float64)

    def sample(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(c).repeat_interleave(per_class)  # (c * per_class,)
        which = torch.randint(0, p, (c * per_class,), generator=gen)
        noise = torch.randn((c * per_class, n), generator=gen, dtype=torch.float64)
        x = torch.relu(prototypes[labels, which] + spec.noise * noise)
        return x.to(device=device, dtype=dtype), labels.to(device=device)

    x_train, y_train = sample(spec.train_per_class)
    x_test, y_test = sample(spec.test_per_class)
    per = spec.classes_per_task
    tasks = tuple(tuple(range(t * per, (t + 1) * per)) for t in range(spec.n_tasks))
    return ClassIncrementalData(spec, x_train, y_train, x_test, y_test, tasks)


# ----------------------------------------------------------------------------------------
# Training and evaluation
# ----------------------------------------------------------------------------------------

@dataclass
class ContinualResult:
    """Outcome of sequential training over the tasks.

    ``accuracy[t, j]`` is the test accuracy on task ``j``'s classes (predicting among all
    classes) after training on tasks ``0..t``; entries with ``j > t`` are measured too (they
    are ~0: those classes were never trained).
    """

    accuracy: np.ndarray          # (tasks, tasks)
    seen_accuracy: np.ndarray     # (tasks,) accuracy over all test samples of tasks 0..t
    final_accuracy: float         # accuracy over the whole test set after the last task
    forgetting: float             # mean over tasks 0..T-2 of max_t acc[t, j] - acc[T-1, j]
    per_task_forgetting: np.ndarray  # (tasks - 1,)
    dead_neurons: int             # neurons never active during training
    train_seconds: float
    losses: list[float] = field(default_factory=list)  # mean training loss per epoch


def forgetting(accuracy: np.ndarray) -> tuple[float, np.ndarray]:
    r"""Average forgetting (Chaudhry et al. 2018) from an accuracy matrix.

    .. math::

        f_j = \max_{t \in [j, T-1)} a_{t,j} - a_{T-1,j}, \qquad
        F = \frac{1}{T-1} \sum_{j=0}^{T-2} f_j

    The last task is excluded (nothing was trained after it, so its forgetting is 0).

    Parameters
    ----------
    accuracy
        ``(T, T)`` matrix, ``accuracy[t, j]`` = accuracy on task ``j`` after task ``t``.

    Returns
    -------
    (float, numpy.ndarray)
        ``F`` and the per-task :math:`f_j` (length :math:`T-1`).
    """
    a = np.asarray(accuracy, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 2:
        raise ValueError(f"accuracy must be a square (T, T) matrix with T >= 2, got shape "
                         f"{a.shape}")
    t = a.shape[0]
    per_task = np.array([a[j:t - 1, j].max() - a[t - 1, j] for j in range(t - 1)])
    return float(per_task.mean()), per_task


@torch.no_grad()
def evaluate_tasks(model: nn.Module, data: ClassIncrementalData, *,
                   batch_size: int = 4096) -> np.ndarray:
    """Test accuracy on each task's classes (prediction over all classes), ``(tasks,)``.

    The model is put in eval mode (activity counts are not updated) and restored after.
    """
    batch_size = check_int("batch_size", batch_size, minimum=1)
    was_training = model.training
    model.eval()
    try:
        predictions = []
        for start in range(0, data.x_test.shape[0], batch_size):
            logits = model(data.x_test[start:start + batch_size])
            predictions.append(logits.argmax(dim=1))
        predicted = torch.cat(predictions).to(data.y_test.device)
        correct = (predicted == data.y_test).to(torch.float64)
        out = np.zeros(data.n_tasks)
        for t, classes in enumerate(data.task_classes):
            mask = torch.isin(data.y_test, torch.tensor(classes, device=data.y_test.device))
            out[t] = float(correct[mask].mean())
        return out
    finally:
        model.train(was_training)


def train_class_incremental(model: nn.Module, data: ClassIncrementalData, *, epochs: int,
                            lr: float, batch_size: int = 32, grad_clip: float | None = None,
                            seed: SeedLike = 0,
                            progress: Callable[[int, int], None] | None = None
                            ) -> ContinualResult:
    r"""Train ``model`` on the tasks one after the other with plain SGD; evaluate after each.

    For each task :math:`t` in order: ``epochs`` passes over that task's training samples
    only (shuffled each epoch, minibatches of ``batch_size``), cross-entropy over all
    classes, the plain SGD step :math:`\theta \leftarrow \theta - \eta \nabla L` (no
    momentum, no weight decay: what ``torch.optim.SGD(lr=lr)`` does, written out because
    building a ``torch.optim`` optimiser imports ``torch._dynamo``, seconds on a small CPU),
    and ``model.project_()`` after every step. After each task, the test
    accuracy of every task is recorded.

    Parameters
    ----------
    model
        :class:`SDMMLP` or :class:`ReLUMLP` (any module with ``project_()``,
        ``dead_neurons`` and ``in_features``/``out_features``).
    data
        From :func:`make_class_incremental_task`; moved to the model's device.
    epochs
        Passes over each task's training data.
    lr
        SGD learning rate.
    batch_size
        Minibatch size.
    grad_clip
        Clip the global gradient norm to this value before each step (None: no clipping).
    seed
        Seed of the shuffling order.
    progress
        Called as ``progress(done, total)`` after every epoch.

    Returns
    -------
    ContinualResult
    """
    if not isinstance(model, nn.Module) or not hasattr(model, "project_"):
        raise TypeError("model must be an SDMMLP or ReLUMLP (an nn.Module with project_())")
    if not isinstance(data, ClassIncrementalData):
        raise TypeError(f"data must be a ClassIncrementalData, got {type(data).__name__}")
    epochs = check_int("epochs", epochs, minimum=1)
    lr = check_real("lr", lr, minimum=0.0, strict_minimum=True)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if grad_clip is not None:
        grad_clip = check_real("grad_clip", grad_clip, minimum=0.0, strict_minimum=True)
    if model.in_features != data.x_train.shape[1]:
        raise ValueError(f"data must have dimension in_features={model.in_features}, got "
                         f"{data.x_train.shape[1]}")
    if model.out_features < data.spec.n_classes:
        raise ValueError(f"model must have out_features >= n_classes={data.spec.n_classes}, "
                         f"got {model.out_features}")
    weight = next(model.parameters())
    generator = torch_generator(seed, "train_class_incremental", "shuffle")
    params = [p for p in model.parameters() if p.requires_grad]
    loss_fn = nn.CrossEntropyLoss()
    n_tasks = data.n_tasks
    accuracy = np.zeros((n_tasks, n_tasks))
    losses: list[float] = []
    total, done = n_tasks * epochs, 0
    start = time.perf_counter()
    model.train()
    for task in range(n_tasks):
        x_task, y_task = data.split(task, train=True)
        x_task = x_task.to(device=weight.device, dtype=weight.dtype)
        y_task = y_task.to(device=weight.device)
        m = x_task.shape[0]
        for _epoch in range(epochs):
            order = torch.randperm(m, generator=generator).to(weight.device)
            running = torch.zeros((), device=weight.device, dtype=torch.float64)
            for begin in range(0, m, batch_size):
                idx = order[begin:begin + batch_size]
                for p in params:
                    p.grad = None
                loss = loss_fn(model(x_task[idx]), y_task[idx])
                loss.backward()
                if grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, grad_clip)
                with torch.no_grad():  # plain SGD step: p <- p - lr * grad
                    for p in params:
                        if p.grad is not None:
                            p.add_(p.grad, alpha=-lr)
                model.project_()
                running += loss.detach().to(torch.float64) * idx.numel()
            losses.append(float(running) / m)
            done += 1
            if progress is not None:
                progress(done, total)
        accuracy[task] = evaluate_tasks(model, data)
    elapsed = time.perf_counter() - start
    sizes = np.array([float(torch.isin(data.y_test, torch.tensor(c, device=data.y_test.device))
                            .sum()) for c in data.task_classes])
    seen = np.array([(accuracy[t, :t + 1] * sizes[:t + 1]).sum() / sizes[:t + 1].sum()
                     for t in range(n_tasks)])
    mean_forgetting, per_task = forgetting(accuracy)
    final = float((accuracy[-1] * sizes).sum() / sizes.sum())
    return ContinualResult(accuracy=accuracy, seen_accuracy=seen, final_accuracy=final,
                           forgetting=mean_forgetting, per_task_forgetting=per_task,
                           dead_neurons=int(model.dead_neurons), train_seconds=elapsed,
                           losses=losses)
