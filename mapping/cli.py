"""The ``memcircuits`` command line: argument parsing and dispatch only.

The work is done by :mod:`mapping.runner` (experiments, the demo, compare), by
:func:`mapping.sweep.sweep_file` (sweep) and by the command modules of
:data:`mapping.experiments.ACTION_COMMANDS` (``tem``). Every command writes a run directory
(``config.json``, ``metrics.json``, data, ``figures/*.png``; see :mod:`models.rundir`) and
prints a short summary. Errors a user can cause (bad configuration, missing file) print one
line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mapping.arguments import add_out_options, add_run_options
from mapping.experiments import ACTION_COMMANDS, COMMANDS, EXPERIMENTS, load_command
from mapping.runner import run_compare, run_demo, run_experiment
from mapping.sweep import sweep_file
from models.config import ConfigError

__all__ = ["build_parser", "main"]

DEMO_DEFAULT_OUT = "memcircuits-demo"


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``memcircuits X: error: ...``.

    (argparse prints the usage block first; the one line names the argument and points to
    ``--help``.)
    """

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = Parser(
        prog="memcircuits",
        description="Spiking memory circuits next to the abstract models they implement.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="run the main job on built-in defaults",
                               description="Run the demonstration on built-in defaults and "
                                           "print where the results are.")
    add_out_options(demo, required=False, default=Path(DEMO_DEFAULT_OUT),
                    text=f"output directory (default: ./{DEMO_DEFAULT_OUT})")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")

    for name, (_module, description) in COMMANDS.items():
        sub = commands.add_parser(name, help=description, description=description)
        add_run_options(sub)
        for flag, key, kind, text in SHORTCUTS.get(name, ()):
            if not flag.startswith("-"):  # positional (e.g. calcium's RUN_DIR)
                sub.add_argument(f"shortcut_{key}", type=kind, metavar=flag, help=text)
            elif kind is bool:  # a switch: --movie gives movie = true
                sub.add_argument(flag, dest=f"shortcut_{key}", action="store_true",
                                 default=None, help=f"{text} (same as --set {key}=true)")
            else:
                sub.add_argument(flag, dest=f"shortcut_{key}", type=kind,
                                 metavar=key.rsplit(".", 1)[-1].upper(),
                                 help=f"{text} (same as --set {key}=...)")

    compare = commands.add_parser(
        "compare", help="compare runs: spikes against equations, one report",
        description="Read run directories (cerebellum, hippocampus, figures cerebellum-beta, "
                    "figures cerebellum-capacity), refuse runs of one kind whose inputs "
                    "differ, and write metrics.json, figures/comparison.png and report.md.")
    compare.add_argument("runs", metavar="RUN_DIR", type=Path, nargs="+",
                         help="run directories to compare")
    add_out_options(compare, text="directory of the report")

    sweep = commands.add_parser(
        "sweep", help="run a parameter grid on Dask; one table of results",
        description="Expand the grid of SPEC.toml (command, [base], [grid]) and run every "
                    "point not yet done on a Dask LocalCluster (worker processes, one thread "
                    "each) or on --scheduler ADDRESS; results stream into OUT/results.csv. "
                    "Every point's configuration is checked before a worker starts; the "
                    "exit status is 1 if a run failed (OUT/failed.json says why).")
    sweep.add_argument("spec", metavar="SPEC.toml", type=Path, help="sweep specification")
    add_out_options(sweep, text="sweep directory (runs/<id>/ and results.csv)",
                    overwrite=False)
    sweep.add_argument("--overwrite", action="store_true",
                       help="replace the sweep of another specification (command, [base], "
                            "memcircuits version) that DIR holds (its files are deleted first)")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="address of an existing Dask scheduler (default: a LocalCluster)")
    sweep.add_argument("--workers", type=int, default=2,
                       help="worker processes of the LocalCluster (default 2)")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")

    figures = commands.add_parser("figures", help="reproduce the abstract-model figures",
                                  description="Reproduce the figures of the abstract models.")
    which = figures.add_subparsers(dest="figure", metavar="FIGURE", required=True)
    for name, (_module, description) in EXPERIMENTS.items():
        sub = which.add_parser(name, help=description, description=description)
        add_run_options(sub)

    for name, (_module, description) in ACTION_COMMANDS.items():
        sub = commands.add_parser(name, help=description, description=description)
        load_command(name).add_arguments(sub)
    return parser


#: Command-specific options, each a shorthand for one ``--set key=value``.
SHORTCUTS: dict[str, tuple[tuple[str, str, type, str], ...]] = {
    "hippocampus": (("--world", "world", str, "world spec, e.g. square:8x8 or hex:6x6"),
                    ("--steps", "steps", int, "steps of the main walk"),
                    ("--mec-source", "circuit.mec.source", str,
                     "grid modules of the MEC: analytic or tem-t (a trained TEM-t's shifts)"),
                    ("--mec-checkpoint", "circuit.mec.checkpoint", str,
                     "with --mec-source tem-t: a shipped checkpoint name (cyclic; torus on "
                     "hexagonal worlds) or a path")),
    "calcium": (("RUN_DIR", "run_dir", str, "run directory of a circuit command (spikes.nwb)"),
                ("--indicator", "synthesis.indicator", str,
                 "indicator preset: GCaMP6f, GCaMP6s, jGCaMP7f or jGCaMP8m"),
                ("--fps", "synthesis.fps", float, "frame rate (Hz)"),
                ("--movie", "movie", bool, "also write a two-photon movie per population")),
    "open-field": (("--duration", "duration", float, "seconds of foraging"),
                   ("--trajectory", "trajectory", str,
                    "a .npy file of (T, 2) positions in metres (default: RatInABox)")),
    "predict": (("--protocol", "protocol", str,
                 "acquisition-extinction, savings, overwrite or generalisation"),
                ("--quick", "quick", bool, "a short run: 3 seeds, 400 granule cells")),
}


#: ``--set`` key prefixes a command accepts without their parent table (``hippocampus``:
#: ``mec.source=tem-t`` means ``circuit.mec.source=tem-t``).
SET_ALIASES: dict[str, dict[str, str]] = {
    "hippocampus": {"mec": "circuit.mec", "memory": "circuit.memory",
                    "timing": "circuit.timing", "backend": "circuit.backend"},
    "open-field": {"mec": "circuit.mec", "memory": "circuit.memory",
                   "timing": "circuit.timing", "backend": "circuit.backend"},
}


def _shortcut_overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` overrides (aliases resolved) with the command's shortcut options appended.

    The shortcut options come last, so they win.
    """
    aliases = SET_ALIASES.get(args.command, {})
    overrides = []
    for text in args.overrides:
        head, dot, rest = text.partition(".")
        key = text.split("=", 1)[0].strip()
        if head in aliases and dot:
            text = f"{aliases[head]}.{rest}"
        elif key in aliases and "." not in key:  # e.g. backend=cython
            text = f"{aliases[key]}={text.split('=', 1)[1]}"
        overrides.append(text)
    for _flag, key, _kind, _text in SHORTCUTS.get(args.command, ()):
        value = getattr(args, f"shortcut_{key}", None)
        if value is not None:  # strings and booleans as TOML (JSON's spelling is valid TOML)
            text = json.dumps(value) if isinstance(value, str | bool) else value
            overrides.append(f"{key}={text}")
    return overrides


def _dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command; return the exit status."""
    if args.command == "demo":
        run_demo(args.out, quiet=args.quiet, overwrite=args.overwrite)
    elif args.command == "figures":
        run_experiment(args.figure, args.out, config_path=args.config,
                       overrides=args.overrides, seed=args.seed, quiet=args.quiet,
                       overwrite=args.overwrite)
    elif args.command == "compare":
        run_compare(args.runs, args.out, overwrite=args.overwrite)
    elif args.command == "sweep":
        return sweep_file(args.spec, args.out, scheduler=args.scheduler, workers=args.workers,
                          quiet=args.quiet, overwrite=args.overwrite)
    elif args.command in ACTION_COMMANDS:
        load_command(args.command).run_command(args)
    elif args.command in COMMANDS:
        run_experiment(args.command, args.out, config_path=args.config,
                       overrides=_shortcut_overrides(args), seed=args.seed,
                       quiet=args.quiet, overwrite=args.overwrite)
    else:  # pragma: no cover - argparse refuses unknown commands first
        raise ValueError(f"unknown command {args.command}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``memcircuits`` console script."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return _dispatch(args)
    except (ConfigError, ValueError) as exc:
        print(f"memcircuits: error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:  # training diverged: the message says what was kept
        print(f"memcircuits: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file or directory the user named: missing, not readable, ...
        print(f"memcircuits: error: {_os_error(exc)}", file=sys.stderr)
        return 2
    except MemoryError:
        print("memcircuits: error: out of memory; make the run smaller (sizes, duration) or "
              "lower memory_budget_gib so the guard refuses it before it starts",
              file=sys.stderr)
        return 2


def _os_error(exc: OSError) -> str:
    """One line for an operating-system error, naming the file where it is known."""
    if isinstance(exc, FileNotFoundError) and exc.filename is None:
        return str(exc)  # our own messages already name the file
    reason = exc.strerror or str(exc)
    return f"{exc.filename}: {reason}" if exc.filename is not None else reason


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
