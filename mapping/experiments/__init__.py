"""Experiment protocols behind the command line, one module each.

Every experiment module defines

- ``Config``: a frozen dataclass of parameters (with ``seed``) and ``validate()``;
- ``run(config, run_dir, *, progress) -> dict``: does the work, saves figures and data into
  the :class:`~models.rundir.RunDirectory`, and returns the flat metrics dict;
- ``summarize(metrics) -> str``: the few lines printed at the end.

:data:`EXPERIMENTS` maps a command name to its module path; modules are imported only when
their command runs, so ``memcircuits --help`` stays fast and abstract experiments never
import Brian2.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["COMMANDS", "EXPERIMENTS", "load_experiment"]

#: figure name -> (module, one-line description)
EXPERIMENTS: dict[str, tuple[str, str]] = {
    "sdm": ("mapping.experiments.sdm_figures",
            "SDM intersection weights vs softmax with fitted beta; optimal radii"),
    "hopfield": ("mapping.experiments.hopfield_figures",
                 "classic Hopfield capacity transition; modern Hopfield retrieval"),
    "sdm-mlp": ("mapping.experiments.sdm_mlp_figures",
                "SDM-MLP (Top-k + GABA switch) vs ReLU MLP on class-incremental learning"),
    "cerebellum-window": ("mapping.experiments.cerebellum_window",
                          "PF->PC plasticity window measured on the circuit's synapses"),
    "cerebellum-coding": ("mapping.experiments.cerebellum_coding",
                          "granule coding level vs mossy-fibre rate, with and without Golgi"),
    "cerebellum-intersection": ("mapping.experiments.cerebellum_intersection",
                                "granule-cell overlaps vs exact Hamming-ball intersections"),
    "cerebellum-beta": ("mapping.experiments.cerebellum_beta",
                        "effective beta of granule-cell weights vs theory, per coding level"),
    "cerebellum-capacity": ("mapping.experiments.cerebellum_capacity",
                            "accuracy vs load: spiking cerebellum and abstract SDM"),
    "ca3": ("mapping.experiments.ca3",
            "spiking CA3 (Hebbian g (x) x, gamma-cycle attractor) vs the classic Hopfield "
            "equation"),
    "mushroom-body": ("mapping.experiments.mushroom_body",
                      "mushroom-body preset: Kenyon-cell sparseness, odour -> valence learning"),
    "calcium-validation": ("mapping.experiments.calcium_validation",
                           "calcium forward models: OASIS round trip, noise level, 1-AP "
                           "responses of the indicator presets"),
    "calcium-protocol": ("mapping.experiments.calcium_protocol",
                         "predicted dF/F: cerebellar learning and extinction, place-cell "
                         "remapping across two worlds"),
}


#: top-level command -> (module, one-line description); same module interface
COMMANDS: dict[str, tuple[str, str]] = {
    "cerebellum": ("mapping.experiments.cerebellum",
                   "write random patterns into the spiking cerebellum and read noisy queries"),
    "hippocampus": ("mapping.experiments.hippocampus",
                    "the spiking entorhinal-hippocampal loop (TEM-t) on a random walk"),
    "calcium": ("mapping.experiments.calcium",
                "synthetic calcium imaging (dF/F, movie, NWB) of a circuit run's spikes"),
}


def load_experiment(name: str) -> ModuleType:
    """Import the module of experiment or command ``name``."""
    table = {**EXPERIMENTS, **COMMANDS}
    if name not in table:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(table)}")
    return importlib.import_module(table[name][0])
