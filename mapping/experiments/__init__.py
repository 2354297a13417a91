"""Experiment protocols behind the command line, one module each.

Every experiment module defines

- ``Config``: a frozen dataclass of parameters (with ``seed``) and ``validate()``;
- ``run(config, run_dir, *, progress) -> dict``: does the work, saves figures and data into
  the :class:`~models.rundir.RunDirectory`, and returns the flat metrics dict;
- ``summarize(metrics) -> str``: the few lines printed at the end.

:data:`EXPERIMENTS` (``memcircuits figures NAME``) and :data:`COMMANDS` (``memcircuits
NAME``) map a command name to its module path; :func:`mapping.runner.run_experiment` runs
them. Modules are imported only when their command runs, so ``memcircuits --help`` stays
fast and abstract experiments never import Brian2.

A command with its own arguments and sub-actions (``memcircuits tem train|evaluate``) is
listed in :data:`ACTION_COMMANDS`; its module defines

- ``add_arguments(parser)``: adds the command's arguments (sub-action parsers included) to
  the ``argparse`` parser :mod:`mapping.cli` made for it (and may set its description);
- ``run_command(args)``: runs the parsed command and prints its summary; errors a user can
  cause are raised as :class:`models.config.ConfigError`, ``ValueError`` or ``OSError``.

Its module is imported when the parser is built (keep its module-level imports light).
No experiment module imports another: shared helpers live in library modules
(:mod:`mapping.measures`, :mod:`mapping.imaging`, ``models``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["ACTION_COMMANDS", "COMMANDS", "EXPERIMENTS", "load_command", "load_experiment"]

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
    "window-imaging": ("mapping.experiments.window_imaging",
                       "lowest frame rate and noise level that recover the plasticity window "
                       "from imaged signals"),
    "cerebellum-coding": ("mapping.experiments.cerebellum_coding",
                          "granule coding level vs mossy-fibre rate, with and without Golgi"),
    "cerebellum-intersection": ("mapping.experiments.cerebellum_intersection",
                                "granule-cell overlaps vs exact Hamming-ball intersections"),
    "cerebellum-beta": ("mapping.experiments.cerebellum_beta",
                        "effective beta of granule-cell weights vs theory, per coding level"),
    "cerebellum-capacity": ("mapping.experiments.cerebellum_capacity",
                            "accuracy vs load: spiking cerebellum and abstract SDM"),
    "granule-regimes": ("mapping.experiments.granule_regimes",
                        "granule overlaps vs theory vs softmax: full-address volleys, "
                        "four-claw volleys, four-claw asynchronous"),
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
    "open-field": ("mapping.experiments.open_field",
                   "the spiking loop driven by a rat foraging in a 1 m box: grid cells, "
                   "module spacings, place fields"),
    "calcium": ("mapping.experiments.calcium",
                "synthetic calcium imaging (dF/F, movie, NWB) of a circuit run's spikes"),
    "predict": ("mapping.experiments.predict",
                "a learning protocol under several hypotheses over seeds: predictions and "
                "the observables that separate them"),
}


#: top-level command with sub-actions -> (module, one-line description); the module defines
#: ``add_arguments(parser)`` and ``run_command(args)``
ACTION_COMMANDS: dict[str, tuple[str, str]] = {
    "tem": ("mapping.experiments.tem", "train and evaluate TEM / TEM-t on graph worlds"),
}


def load_command(name: str) -> ModuleType:
    """Import the module of command ``name`` of :data:`ACTION_COMMANDS`."""
    if name not in ACTION_COMMANDS:
        raise ValueError(f"unknown command {name!r}; known: {', '.join(ACTION_COMMANDS)}")
    return importlib.import_module(ACTION_COMMANDS[name][0])


def load_experiment(name: str) -> ModuleType:
    """Import the module of experiment or command ``name``."""
    table = {**EXPERIMENTS, **COMMANDS}
    if name not in table:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(table)}")
    return importlib.import_module(table[name][0])
