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

The networks live in :mod:`models.sdm_mlp_network`, the task and the training in
:mod:`models.class_incremental`; this module re-exports their public names.
"""

from __future__ import annotations

from models.class_incremental import (
    ClassIncrementalData,
    ClassIncrementalTask,
    ContinualResult,
    evaluate_tasks,
    forgetting,
    make_class_incremental_task,
    train_class_incremental,
)
from models.sdm_mlp_network import (
    SDMMLP,
    ReLUMLP,
    gaba_coefficients,
    project_addresses_,
    topk_gaba,
)

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
