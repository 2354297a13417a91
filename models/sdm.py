r"""Sparse distributed memory (Kanerva 1988): the public names in one place.

The SDM is split one idea per module; this module re-exports their public names, so
``from models.sdm import SDM`` keeps working:

- :mod:`models.sdm_neuron`: :class:`SDM`, the binary neuron-based SDM with explicit hard
  locations (reads, writes, read paths; the equations are in that module's docstring);
- :mod:`models.sdm_constructors`: its address designs (random full addresses, packed words,
  Jaeckel's selected coordinates);
- :mod:`models.sdm_continuous`: :class:`ContinuousSDM`, real addresses on the unit sphere;
- :mod:`models.sdm_functions`: the small pure functions (:func:`cosine_for_radius`,
  :func:`radius_for_cosine`, :func:`top_k_mask`) and the names of the activation rules and
  read paths;
- :mod:`models.sdm_packed`: the bit-packed kernels of the packed read path.
"""

from __future__ import annotations

from models.sdm_continuous import ContinuousSDM
from models.sdm_functions import (
    ACTIVATIONS,
    READ_PATHS,
    cosine_for_radius,
    radius_for_cosine,
    top_k_mask,
)
from models.sdm_neuron import SDM

__all__ = [
    "ACTIVATIONS",
    "READ_PATHS",
    "SDM",
    "ContinuousSDM",
    "cosine_for_radius",
    "radius_for_cosine",
    "top_k_mask",
]
