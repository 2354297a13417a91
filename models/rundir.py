"""The run-directory contract shared by every command, with atomic writes.

A run directory holds::

    config.json     resolved configuration, seed, command line, package versions
    metrics.json    a flat dict of named figures (numbers, strings, booleans)
    <data>          simulation output (NWB where it is neural data)
    figures/*.png   figures

Every file is written to a temporary name in the same directory and then renamed over the
target (``os.replace``), so a reader never sees a half-written file and an interrupted run
never corrupts what an earlier run wrote.

One run owns its directory (:func:`claim_run_directory`): it holds a lock while it writes, a
directory holding another run is refused unless the user asks to overwrite it (which clears
it first) or the command resumes it, and ``config.json`` is written first and
``metrics.json`` last, so a directory is a finished run exactly when it holds both
(:func:`require_finished_run`, which ``compare`` and ``calcium`` ask of their inputs).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import fcntl
import importlib.metadata
import io
import json
import math
import os
import platform
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = [
    "RunDirectory",
    "RunDirectoryError",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_csv",
    "atomic_write_json",
    "atomic_write_text",
    "check_out_apart",
    "claim_run_directory",
    "delete_entry",
    "directory_lock",
    "out_path",
    "package_versions",
    "read_json_object",
    "require_finished_run",
    "try_lock",
]

_UMASK = os.umask(0)
os.umask(_UMASK)

_VERSIONED = ("memcircuits", "numpy", "scipy", "torch", "brian2", "networkx", "matplotlib",
              "pynwb", "hdmf", "dask", "distributed")


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success.

    On an exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # keep the target's suffix last: some writers (pynwb, savefig) look at it
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}",
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp creates 0600; use the usual mode
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(target: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically (flushed and fsynced before the rename)."""
    target = Path(target)
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return target


def atomic_write_text(target: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    return atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_csv(target: str | Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``rows`` (dicts with the same keys, in the first row's order) as CSV atomically."""
    if not rows:
        raise ValueError(f"{Path(target).name}: no rows to write")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(target, buffer.getvalue())


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return _jsonable(value.item())  # 0-d torch tensors
    return value


def atomic_write_json(target: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON atomically (numpy scalars converted, NaN as null)."""
    text = json.dumps(_jsonable(data), indent=2, sort_keys=True, allow_nan=False)
    return atomic_write_text(target, text + "\n")


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages a result depends on (absent ones omitted)."""
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


class RunDirectory:
    """One command's output directory, following the run-directory contract.

    Parameters
    ----------
    path
        The directory; created if missing. Existing files are replaced one by one, atomically.
        Commands open it through :func:`claim_run_directory`, which locks it and refuses a
        directory that holds another run.
    run
        The command that writes it (recorded in ``config.json`` as ``"run"``).

    Examples
    --------
    >>> run = RunDirectory(tmp_path / "run")                        # doctest: +SKIP
    >>> run.write_config({"n": 64}, seed=0)                         # doctest: +SKIP
    >>> run.write_metrics({"beta_n64_r11": 17.3})                   # doctest: +SKIP
    """

    def __init__(self, path: str | Path, *, run: str | None = None) -> None:
        self.path = Path(path)
        self.run = run
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"out: {self.path} exists and is not a directory")
        self.path.mkdir(parents=True, exist_ok=True)
        self.figures = self.path / "figures"

    def file(self, name: str) -> Path:
        """Path of a data file inside the run directory."""
        return self.path / name

    def write_config(self, config: Mapping[str, Any], *, seed: int | None,
                     command: str | None = None) -> Path:
        """Write ``config.json``: resolved configuration, seed, command, versions, time."""
        payload = {
            "run": self.run,
            "config": dict(config),
            "seed": seed,
            "command": command if command is not None else " ".join(sys.argv),
            "versions": package_versions(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        return atomic_write_json(self.path / "config.json", payload)

    def read_config(self) -> dict[str, Any]:
        """The ``config.json`` of this run directory."""
        return json.loads((self.path / "config.json").read_text())

    def write_metrics(self, metrics: Mapping[str, Any]) -> Path:
        """Write ``metrics.json``, a flat dict of named figures.

        Raises
        ------
        ValueError
            If a value is not a number, string, boolean or null (the dict must stay flat).
        """
        flat = {}
        for key, value in metrics.items():
            value = _jsonable(value)
            if not (value is None or isinstance(value, bool | int | float | str)):
                raise ValueError(f"metrics[{key!r}] must be a number, string or boolean, "
                                 f"got {type(value).__name__}")
            flat[str(key)] = value
        return atomic_write_json(self.path / "metrics.json", flat)

    def read_metrics(self) -> dict[str, Any]:
        """The ``metrics.json`` of this run directory."""
        return json.loads((self.path / "metrics.json").read_text())

    def save_figure(self, figure: Any, name: str, *, dpi: int = 150) -> Path:
        """Save a matplotlib figure as ``figures/<name>.png`` atomically and close it."""
        import matplotlib.pyplot as plt

        target = self.figures / f"{name}.png"
        with atomic_path(target) as tmp:
            figure.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
        plt.close(figure)
        return target


# ------------------------------------------------------------------------------ ownership
class RunDirectoryError(ValueError):
    """A run directory cannot be used as asked; the message names the directory and why."""


#: the lock file of a run (or sweep) directory: one process holds it while it writes there
LOCK_NAME = ".lock"
#: names left by :func:`atomic_path` (``.<stem>.<random>.tmp<suffix>``) of an interrupted run
_TEMPORARY = re.compile(r"^\..+\.tmp(\.[^.]+)?$")

RunMode = Literal["new", "overwrite", "resume"]


def out_path(text: str | os.PathLike[str]) -> Path:
    """``text`` as an output directory path; an empty path is refused.

    ``Path("")`` means the current directory, where a run would scatter its files among the
    user's own: an output directory must be named.
    """
    if not str(text).strip():
        raise RunDirectoryError("out: an empty path; name the output directory (e.g. "
                                "--out runs/first)")
    return Path(text)


def try_lock(lock_file: Path) -> Any:
    """Take an exclusive ``flock`` on ``lock_file`` without waiting.

    Returns
    -------
    file or None
        The open file holding the lock (closing it releases the lock; so does the end of the
        process, however it ends), or None if another process holds it.
    """
    handle = open(lock_file, "a+")  # returned to the caller, who holds the lock
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def delete_entry(item: Path) -> None:
    """Delete a file, or a directory with its contents (a link itself, never its target)."""
    if item.is_dir() and not item.is_symlink():
        shutil.rmtree(item)
    else:
        item.unlink(missing_ok=True)


@contextlib.contextmanager
def directory_lock(path: str | Path) -> Iterator[Path]:
    """Hold an exclusive lock on directory ``path`` (created if missing) for the body.

    The lock is ``fcntl.flock`` on ``path/.lock``: the operating system releases it when the
    process ends, however it ends (``kill -9`` included), so a stale lock never blocks a
    later run.

    Raises
    ------
    RunDirectoryError
        If another process holds the lock, or ``path`` cannot be created or written.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle = try_lock(path / LOCK_NAME)
    except FileExistsError as exc:
        raise RunDirectoryError(f"out: {path} exists and is not a directory") from exc
    except NotADirectoryError as exc:
        raise RunDirectoryError(f"out: a parent of {path} is a file, not a directory"
                                ) from exc
    except PermissionError as exc:
        raise RunDirectoryError(f"out: no permission to write in {path}") from exc
    except OSError as exc:
        raise RunDirectoryError(f"out: cannot use {path} ({exc.strerror or exc})") from exc
    if handle is None:
        raise RunDirectoryError(f"out: {path} is in use by another memcircuits process "
                                f"(it holds {path / LOCK_NAME}); wait for it to end or "
                                f"choose another --out")
    try:
        yield path
    finally:
        handle.close()  # closing the file releases the lock


def _is_locked(path: Path) -> bool:
    """Whether a live process holds ``path``'s lock (without taking it)."""
    lock = path / LOCK_NAME
    if not lock.is_file():
        return False
    with open(lock) as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False


def _remove_temporaries(path: Path) -> list[Path]:
    """Delete the temporary files interrupted atomic writes left under ``path``."""
    removed = []
    for item in sorted(path.rglob(".*")):
        if item.is_file() and _TEMPORARY.match(item.name):
            item.unlink()
            removed.append(item)
    return removed


def _contents(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.name != LOCK_NAME)


def _run_command(path: Path) -> str:
    """The command recorded in ``path/config.json`` ("" if unreadable)."""
    try:
        payload = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return ""
    if not isinstance(payload, dict):
        return ""
    return str(payload.get("run") or payload.get("command") or "")


@contextlib.contextmanager
def claim_run_directory(path: str | Path, *, run: str, mode: RunMode = "new"
                        ) -> Iterator[RunDirectory]:
    """Own the run directory ``path`` for one run of ``run`` (e.g. ``"cerebellum"``).

    The directory is locked for the body (:func:`directory_lock`; a concurrent run into it is
    refused) and temporary files of interrupted writes are removed. Then, by ``mode``:

    - ``"new"``: the directory must be new or empty; one holding a run is refused;
    - ``"overwrite"``: a directory holding a run (it has ``config.json``) is cleared first;
    - ``"resume"``: a run of the same ``run`` is continued (its ``metrics.json`` is removed
      until the run finishes again); a directory holding another command's run is refused.

    A run that raises in ``"new"`` or ``"overwrite"`` mode leaves the directory as it found
    it: empty, or absent if the run created it (nothing half-written stays to be mistaken
    for a run; the error is what the user sees). A resumed run keeps what it wrote (its
    checkpoints).

    A non-empty directory that holds no run (no ``config.json``) is refused in every mode:
    memcircuits never clears files it did not write. Every run writes ``config.json`` first
    and ``metrics.json`` last, so a finished run is one with both (see
    :func:`require_finished_run`).

    Raises
    ------
    RunDirectoryError
        With the directory and the reason: in use, holds another run, not empty, not a
        directory, not writable.
    """
    if mode not in ("new", "overwrite", "resume"):
        raise ValueError(f"mode must be 'new', 'overwrite' or 'resume', got {mode!r}")
    path = out_path(path)
    created = not path.exists()
    with directory_lock(path):
        _remove_temporaries(path)
        contents = _contents(path)
        if contents:
            if not (path / "config.json").is_file():
                raise RunDirectoryError(
                    f"out: {path} is not empty and holds no memcircuits run; choose a new or "
                    f"empty directory (memcircuits never clears files it did not write)")
            previous = _run_command(path)
            finished = (path / "metrics.json").is_file()
            state = "a finished" if finished else "an unfinished"
            if mode == "new":
                raise RunDirectoryError(
                    f"out: {path} already holds {state} run ({previous or 'unknown command'});"
                    f" pass --overwrite to replace it, or choose another --out")
            if mode == "overwrite":
                _clear(path)
            elif previous and previous != run and not previous.startswith(f"memcircuits {run}"):
                raise RunDirectoryError(
                    f"out: {path} holds a run of {previous!r}, not of {run!r}; it cannot be "
                    f"resumed; pass --overwrite to replace it, or choose another --out")
            else:
                (path / "metrics.json").unlink(missing_ok=True)
        try:
            yield RunDirectory(path, run=run)
        except BaseException:
            if mode != "resume":
                _clear(path)
                if created:
                    (path / LOCK_NAME).unlink(missing_ok=True)
                    with contextlib.suppress(OSError):
                        path.rmdir()
            raise


def _clear(path: Path) -> None:
    """Delete everything in ``path`` but its lock file, ``config.json`` last.

    A process killed while clearing leaves ``config.json`` (an unfinished run, which
    ``--overwrite`` may clear again), never data files without it (which memcircuits would
    refuse to clear as not its own).
    """
    for item in sorted(_contents(path), key=lambda p: p.name == "config.json"):
        delete_entry(item)


def require_finished_run(path: str | Path, *, what: str = "run") -> Path:
    """``path`` as a finished run directory, or one clear error saying why it is not one.

    A finished run has ``config.json`` (written first) and ``metrics.json`` (written last),
    and no process holds its lock.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    RunDirectoryError
        If it is not a directory, not a memcircuits run, still being written, or unfinished.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what}: no such directory {path}")
    if not path.is_dir():
        raise RunDirectoryError(f"{what}: {path} is not a directory")
    if not (path / "config.json").is_file():
        raise RunDirectoryError(f"{what}: {path} is not a memcircuits run directory "
                                f"(no config.json)")
    if _is_locked(path):
        raise RunDirectoryError(f"{what}: {path} is still being written by a running "
                                f"memcircuits process")
    if not (path / "metrics.json").is_file():
        raise RunDirectoryError(f"{what}: {path} holds a run that did not finish (no "
                                f"metrics.json); run it again with --overwrite")
    return path


def read_json_object(path: str | Path, *, what: str = "run") -> dict[str, Any]:
    """The JSON object in ``path`` (a run's ``config.json``, ``metrics.json``, ...).

    Raises
    ------
    ValueError
        ``"<what>: <path> ..."`` if the file is not UTF-8 JSON or holds no object: the run
        directory is damaged.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what}: {path} is not valid JSON ({exc}); the run directory is "
                         f"damaged: run it again") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{what}: {path} does not hold a JSON object; the run directory is "
                         f"damaged: run it again")
    return data


def check_out_apart(out: str | Path, inputs: Iterable[str | Path]) -> None:
    """Refuse an output directory that is, contains or lies inside one of ``inputs``.

    A command that reads run directories (``compare``, ``calcium``) must never write into
    them: its files would mix with the run it reads, or clear it with ``--overwrite``.
    """
    target = Path(out).resolve()
    for source in inputs:
        source_path = Path(source).resolve()
        if target == source_path or source_path in target.parents \
                or target in source_path.parents:
            raise RunDirectoryError(
                f"out: {out} overlaps the input run directory {source}; write the results "
                f"to a directory of their own")
