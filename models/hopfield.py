r"""Classic (binary) and modern (continuous) Hopfield networks, batched, in PyTorch.

Conventions
-----------
- Stored patterns are the **rows** of a ``(m, N)`` tensor ``X``: ``m`` patterns of ``N``
  units (neurons). ``X[mu]`` is pattern :math:`x^\mu`.
- States (probes, queries) are the rows of a ``(batch, N)`` tensor; a single ``(N,)`` vector
  is accepted and the result is returned without the batch axis.

Classic Hopfield network (Hopfield 1982; Amit, Gutfreund & Sompolinsky 1985)
-----------------------------------------------------------------------------
Bipolar patterns :math:`x^\mu \in \{-1, +1\}^N` are stored with the Hebbian rule

.. math:: W_{ij} = \frac{1}{N} \sum_{\mu=1}^{m} x^\mu_i x^\mu_j \quad (i \neq j),
          \qquad W_{ii} = 0 .

A unit's local field is :math:`h_i = \sum_j W_{ij} s_j` and its update is
:math:`s_i \leftarrow \operatorname{sign}(h_i)`, where **a zero field keeps the current state**
(:math:`\operatorname{sign}(0)` would otherwise be undefined; keeping the state makes the
update flip a unit only when :math:`h_i s_i < 0`, so every flip lowers the energy strictly).
The update is either *asynchronous* (units one at a time, in a fresh random order each
sweep; the order is shared by all probes of a batch and drawn from ``seed``, so a probe's
trajectory does not depend on which other probes share its batch) or *synchronous* (all
units at once, :math:`s \leftarrow \operatorname{sign}(W s)`; may end in a 2-cycle). The
energy

.. math:: E(s) = -\tfrac{1}{2} s^\top W s

never increases under asynchronous updates of a symmetric :math:`W` with non-negative
diagonal. The load is :math:`\alpha = m / N`; for :math:`N \to \infty` retrieval states
exist up to :math:`\alpha_c \approx 0.138` (AGS 1985), with about 1.5 % wrong bits there.

Modern (continuous) Hopfield network (Ramsauer et al. 2020, "Hopfield Networks is All You Need")
------------------------------------------------------------------------------------------------
The paper writes patterns as the columns of :math:`X = (x_1, \dots, x_m)` (shape
:math:`N \times m`, the paper calls the number of patterns :math:`N`) and the update as
:math:`\xi \leftarrow X \operatorname{softmax}(\beta X^\top \xi)`. With patterns as *rows*
(this module) the same update reads

.. math:: \xi^{\mathrm{new}} = X^\top \operatorname{softmax}(\beta X \xi),

and the energy (paper eq. 2, with their pattern count written :math:`m` here) is

.. math:: E(\xi) = -\operatorname{lse}(\beta, X \xi) + \tfrac{1}{2} \xi^\top \xi
          + \beta^{-1} \ln m + \tfrac{1}{2} M^2, \qquad
          \operatorname{lse}(\beta, z) = \beta^{-1} \ln \sum_{\mu} e^{\beta z_\mu},

with :math:`M = \max_\mu \lVert x^\mu \rVert`. The constants make :math:`0 \le E \le 2 M^2`
on the convex hull of the patterns; the update is the concave-convex procedure (CCCP) for
:math:`E`, so :math:`E` never increases. Large :math:`\beta` retrieves a single pattern after
about one update; small :math:`\beta` gives metastable states, mixtures of several patterns
(:func:`softmax_weights` shows the mixture), and the global fixed point near the pattern mean.

The networks live in :mod:`models.hopfield_classic` and :mod:`models.hopfield_modern`,
their shared checks and :func:`overlaps` in :mod:`models.hopfield_common`; this module
re-exports their public names.
"""

from __future__ import annotations

from models.hopfield_classic import (
    ClassicHopfield,
    ClassicRetrieval,
    async_sweep,
    classic_energy,
    classic_retrieve,
    hebbian_weights,
    sync_update,
)
from models.hopfield_common import (
    overlaps,
)
from models.hopfield_modern import (
    ModernHopfield,
    ModernRetrieval,
    lse,
    modern_energy,
    modern_retrieve,
    modern_update,
    softmax_weights,
)

__all__ = [
    "ClassicHopfield",
    "ClassicRetrieval",
    "ModernHopfield",
    "ModernRetrieval",
    "async_sweep",
    "classic_energy",
    "classic_retrieve",
    "hebbian_weights",
    "lse",
    "modern_energy",
    "modern_retrieve",
    "modern_update",
    "overlaps",
    "softmax_weights",
    "sync_update",
]
