"""Command-line options shared by the ``memcircuits`` commands (argparse only).

:mod:`mapping.cli` builds the parser from these; a command module with its own arguments
(see :data:`mapping.experiments.ACTION_COMMANDS`) uses them too, so every command spells
``--out``, ``--overwrite``, ``--config``, ``--set`` and ``--seed`` the same way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from models.rundir import out_path

__all__ = ["add_out_options", "add_run_options"]


def _out_type(text: str) -> Path:
    try:
        return out_path(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("out: ")) from exc


def add_out_options(parser: argparse.ArgumentParser, *, required: bool = True,
                    default: Path | None = None, text: str = "run directory to write",
                    overwrite: bool = True) -> None:
    """``--out DIR`` (never empty) and ``--overwrite`` (replace the run DIR holds)."""
    parser.add_argument("--out", metavar="DIR", type=_out_type, required=required,
                        default=default, help=text)
    if overwrite:
        parser.add_argument("--overwrite", action="store_true",
                            help="replace the run DIR already holds (cleared first)")


def add_run_options(parser: argparse.ArgumentParser, *, out_required: bool = True) -> None:
    """Add the common options of an experiment command.

    ``--config``, ``--set``, ``--seed``, ``--out``/``--overwrite`` and ``--quiet``.
    """
    parser.add_argument("--config", metavar="FILE.toml", type=Path,
                        help="TOML file with parameter values (unknown keys are refused)")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                        dest="overrides", help="override one parameter (repeatable)")
    parser.add_argument("--seed", type=int, help="random seed (same as --set seed=S)")
    add_out_options(parser, required=out_required)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
