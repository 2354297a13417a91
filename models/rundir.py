"""The run-directory contract shared by every command, with atomic writes.

A run directory holds::

    config.json     resolved configuration, seed, command line, package versions
    metrics.json    a flat dict of named figures (numbers, strings, booleans)
    <data>          simulation output (NWB where it is neural data)
    figures/*.png   figures

Every file is written to a temporary name in the same directory and then renamed over the
target (``os.replace``), so a reader never sees a half-written file and an interrupted run
never corrupts what an earlier run wrote.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib.metadata
import json
import math
import os
import platform
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "RunDirectory",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "package_versions",
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

    Examples
    --------
    >>> run = RunDirectory(tmp_path / "run")                        # doctest: +SKIP
    >>> run.write_config({"n": 64}, seed=0)                         # doctest: +SKIP
    >>> run.write_metrics({"beta_n64_r11": 17.3})                   # doctest: +SKIP
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
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
