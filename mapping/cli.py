"""The ``memcircuits`` command line.

Every command writes a run directory (``config.json``, ``metrics.json``, data,
``figures/*.png``; see :mod:`models.rundir`) and prints a short summary. Errors a user can
cause (bad configuration, missing file) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mapping.experiments import COMMANDS
from models.config import ConfigError, load_config, to_dict
from models.rundir import check_out_apart, claim_run_directory, out_path

__all__ = ["build_parser", "main", "run_experiment", "torch_threads"]

DEMO_DEFAULT_OUT = "memcircuits-demo"


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``memcircuits X: error: ...``.

    (argparse prints the usage block first; the one line names the argument and points to
    ``--help``.)
    """

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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


def _add_run_options(parser: argparse.ArgumentParser, *, out_required: bool = True) -> None:
    parser.add_argument("--config", metavar="FILE.toml", type=Path,
                        help="TOML file with parameter values (unknown keys are refused)")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                        dest="overrides", help="override one parameter (repeatable)")
    parser.add_argument("--seed", type=int, help="random seed (same as --set seed=S)")
    add_out_options(parser, required=out_required)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    from mapping.experiments import EXPERIMENTS

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
        _add_run_options(sub)
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
        _add_run_options(sub)
    _add_tem_command(commands)
    return parser


#: Command-specific options, each a shorthand for one ``--set key=value``.
SHORTCUTS: dict[str, tuple[tuple[str, str, type, str], ...]] = {
    "hippocampus": (("--world", "world", str, "world spec, e.g. square:8x8 or hex:6x6"),
                    ("--steps", "steps", int, "steps of the main walk"),
                    ("--mec-source", "circuit.mec.source", str,
                     "grid modules of the MEC: analytic or tem-t (a trained TEM-t's shifts)"),
                    ("--mec-checkpoint", "circuit.mec.checkpoint", str,
                     "with --mec-source tem-t: a shipped checkpoint name (cyclic) or a path")),
    "calcium": (("RUN_DIR", "run_dir", str, "run directory of a circuit command (spikes.nwb)"),
                ("--indicator", "synthesis.indicator", str,
                 "indicator preset: GCaMP6f, GCaMP6s, jGCaMP7f or jGCaMP8m"),
                ("--fps", "synthesis.fps", float, "frame rate (Hz)"),
                ("--movie", "movie", bool, "also write a two-photon movie per population")),
}


#: ``--set`` key prefixes a command accepts without their parent table (``hippocampus``:
#: ``mec.source=tem-t`` means ``circuit.mec.source=tem-t``).
SET_ALIASES: dict[str, dict[str, str]] = {
    "hippocampus": {"mec": "circuit.mec", "memory": "circuit.memory",
                    "timing": "circuit.timing", "backend": "circuit.backend"},
}


def _shortcut_overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` overrides (aliases resolved) with the command's shortcut options appended
    (they win)."""
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


def _add_tem_command(commands: Any) -> None:
    """``memcircuits tem train|evaluate`` (TEM and TEM-t; see mapping/experiments/tem.py)."""
    from mapping.experiments.tem import add_tem_parser

    add_tem_parser(commands)


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the body with ``count`` torch CPU threads, then restore the previous count.

    ``None`` or 0 leaves torch's default (one thread per core). Experiments whose ``Config``
    has a ``num_threads`` field run under it (default 1 in the abstract-model figures):
    their tensors are small, and on a machine whose cores are shared two threads measured
    up to 2.3x slower than one (``figures sdm``: 8.6-10.8 s with 1 thread, 8.5-22.1 s with
    2; ``figures hopfield``: 18.6-25.5 s vs 22.9-42.7 s, 2-core machine under load).
    """
    if not count:
        yield
        return
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def run_experiment(name: str, out: Path, *, config_path: Path | None = None,
                   overrides: Sequence[str] = (), seed: int | None = None,
                   quiet: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Resolve the configuration of experiment ``name``, run it into ``out``, return metrics.

    The configuration is resolved (and every input checked) before ``out`` is touched; then
    the run owns ``out`` (:func:`models.rundir.claim_run_directory`): a directory holding
    another run is refused unless ``overwrite``, which clears it first.
    """
    from mapping.experiments import load_experiment

    module = load_experiment(name)
    overrides = list(overrides)
    if seed is not None:
        overrides.append(f"seed={seed}")
    config = load_config(module.Config, config_path, overrides)
    inputs = getattr(module, "input_directories", None)
    if inputs is not None:
        check_out_apart(out, inputs(config))
    with claim_run_directory(out, run=name,
                             mode="overwrite" if overwrite else "new") as run_dir:
        run_dir.write_config(to_dict(config), seed=getattr(config, "seed", None))
        start = time.perf_counter()
        with torch_threads(getattr(config, "num_threads", None)):
            metrics = dict(module.run(config, run_dir, progress=not quiet))
        metrics.setdefault("wall_time_s", round(time.perf_counter() - start, 3))
        run_dir.write_metrics(metrics)
    print(module.summarize(metrics))
    print(f"results: {run_dir.path.resolve()}")
    return metrics


#: the demo's runs: (sub-directory, command, --set overrides)
DEMO_RUNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("cerebellum", "cerebellum", ()),
    ("hippocampus", "hippocampus", ("steps=150", "drift_steps=0", "remap_steps=0")),
)


def _demo(out: Path, quiet: bool, overwrite: bool = False) -> None:
    """The demo: a cerebellar write/read, a short hippocampal walk, the synthetic calcium
    imaging of the cerebellar run (NWB), and the comparison with the equations (report.md).

    ``out`` is a run directory of its own (``config.json`` first, ``metrics.json`` last)
    holding the four runs; a finished demo is replaced only with ``overwrite``.
    """
    from mapping.report import compare_runs

    with claim_run_directory(out, run="demo",
                             mode="overwrite" if overwrite else "new") as demo:
        demo.write_config({"runs": [name for name, _, _ in DEMO_RUNS]
                           + ["calcium", "report"]}, seed=None)
        start = time.perf_counter()
        print("memcircuits demo: spiking memory circuits next to the equations they implement")
        for k, (name, command, overrides) in enumerate(DEMO_RUNS, 1):
            print(f"\n[{k}/{len(DEMO_RUNS) + 2}] memcircuits {command} "
                  + " ".join(f"--set {o}" for o in overrides))
            run_experiment(command, out / name, overrides=overrides, quiet=quiet)
        steps = len(DEMO_RUNS) + 2
        print(f"\n[{steps - 1}/{steps}] memcircuits calcium {out / 'cerebellum'}")
        run_experiment("calcium", out / "calcium",
                       overrides=[f"run_dir={json.dumps(str(out / 'cerebellum'))}"],
                       quiet=quiet)
        print(f"\n[{steps}/{steps}] memcircuits compare")
        compare_runs([out / name for name, _, _ in DEMO_RUNS], out / "report")
        wall = time.perf_counter() - start
        demo.write_metrics({"wall_time_s": round(wall, 3)})
    print(f"\ndemo finished in {wall:.0f} s; open "
          f"{(out / 'report' / 'report.md').resolve()}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``memcircuits`` console script."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "demo":
            _demo(args.out, args.quiet, args.overwrite)
        elif args.command == "figures":
            run_experiment(args.figure, args.out, config_path=args.config,
                           overrides=args.overrides, seed=args.seed, quiet=args.quiet,
                           overwrite=args.overwrite)
        elif args.command == "compare":
            from mapping.report import compare_runs

            compare_runs(args.runs, args.out, overwrite=args.overwrite)
            print(f"report: {(args.out / 'report.md').resolve()}")
        elif args.command == "sweep":
            from mapping.sweep import load_spec, run_sweep

            summary = run_sweep(load_spec(args.spec), args.out, scheduler=args.scheduler,
                                workers=args.workers, progress=not args.quiet,
                                overwrite=args.overwrite)
            print(f"sweep: {summary['completed']}/{summary['runs']} runs done "
                  f"({summary['skipped_completed']} already done, {summary['failed']} "
                  f"failed) in {summary['wall_s']:.1f} s; "
                  f"results: {(args.out / 'results.csv').resolve()}")
            if summary["failed"]:
                print(f"memcircuits: error: sweep: {summary['failed']} of {summary['runs']} "
                      f"runs failed (errors, parameters and logs: "
                      f"{(args.out / 'failed.json').resolve()}):", file=sys.stderr)
                for rid, error in summary["failed_runs"].items():
                    print(f"  {rid}: {error}", file=sys.stderr)
                return 1
        elif args.command == "tem":
            from mapping.experiments.tem import run_tem_command

            run_tem_command(args)
        elif args.command in COMMANDS:
            run_experiment(args.command, args.out, config_path=args.config,
                           overrides=_shortcut_overrides(args), seed=args.seed,
                           quiet=args.quiet, overwrite=args.overwrite)
        else:  # pragma: no cover - argparse refuses unknown commands first
            parser.error(f"unknown command {args.command}")
    except (ConfigError, ValueError) as exc:
        print(f"memcircuits: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file or directory the user named: missing, not readable, ...
        print(f"memcircuits: error: {_os_error(exc)}", file=sys.stderr)
        return 2
    except MemoryError:
        print("memcircuits: error: out of memory; make the run smaller (sizes, duration) or "
              "lower memory_budget_gib so the guard refuses it before it starts",
              file=sys.stderr)
        return 2
    return 0


def _os_error(exc: OSError) -> str:
    """One line for an operating-system error, naming the file where it is known."""
    if isinstance(exc, FileNotFoundError) and exc.filename is None:
        return str(exc)  # our own messages already name the file
    reason = exc.strerror or str(exc)
    return f"{exc.filename}: {reason}" if exc.filename is not None else reason


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
