"""Spatial metrics of units on a world: rate maps, gridness, spatial information, remapping.

This module gathers the public names of the modules that implement them (import from either):

- :mod:`analysis.rate_maps`: binned and node-wise rate maps, rasterising node maps
  (:class:`RateMap`, :class:`NodeRateMap`, :func:`rate_map`, :func:`node_rate_map`,
  :func:`rasterise_nodes`, :func:`lattice_spacing`);
- :mod:`analysis.gridness`: autocorrelogram and gridness score (Sargolini et al. 2006) with
  its shuffle null (:func:`autocorrelogram`, :func:`gridness`, :func:`gridness_details`,
  :class:`GridnessResult`, :func:`shuffled_gridness`);
- :mod:`analysis.spatial_information`: Skaggs spatial information
  (:func:`spatial_information`);
- :mod:`analysis.remapping`: field correlation across two worlds (:func:`remapping`,
  :class:`RemappingResult`).
"""

from __future__ import annotations

from analysis.gridness import (
    GRIDNESS_ANGLES,
    GridnessResult,
    autocorrelogram,
    gridness,
    gridness_details,
    shuffled_gridness,
)
from analysis.rate_maps import (
    NodeRateMap,
    RateMap,
    lattice_spacing,
    node_rate_map,
    rasterise_nodes,
    rate_map,
)
from analysis.remapping import RemappingResult, remapping
from analysis.spatial_information import spatial_information

__all__ = [
    "GRIDNESS_ANGLES",
    "GridnessResult",
    "NodeRateMap",
    "RateMap",
    "RemappingResult",
    "autocorrelogram",
    "gridness",
    "gridness_details",
    "lattice_spacing",
    "node_rate_map",
    "rasterise_nodes",
    "rate_map",
    "remapping",
    "shuffled_gridness",
    "spatial_information",
]
