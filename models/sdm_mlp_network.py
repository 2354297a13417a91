r"""SDM as a two-layer network (Bricken et al. 2023): Top-k with the GABA switch, and a ReLU MLP.

:class:`SDMMLP` reads :math:`y = W_\mathrm{out} \mathrm{TopK}(\mathrm{ReLU}(W_\mathrm{in}
\hat x))` with L2-normalised non-negative addresses; :class:`ReLUMLP` is the baseline. The
equations and implementation choices are in :mod:`models.sdm_mlp`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from models._checks import as_tensor, check_batch, check_bool, check_int, check_real
from models.seeding import SeedLike, torch_generator

__all__ = [
    "SDMMLP",
    "ReLUMLP",
    "gaba_coefficients",
    "project_addresses_",
    "topk_gaba",
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
        """The layer sizes, ``k`` and the GABA switch settings, for ``repr``."""
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

