"""Spikes of simulated populations in Neurodata Without Borders (NWB) files.

:func:`write_spikes` stores every population's spikes in the NWB ``Units`` table, one row per
neuron that fired, with two extra columns: ``population`` (its name) and
``population_index`` (the neuron's index within the population). Population sizes go to
scratch data ``population_size_<name>``. :func:`read_spikes` gives everything back. Files
are written atomically (temporary name, then rename). :func:`add_spike_units` adds the same
``Units`` table to any NWB file (the calcium files of :mod:`analysis.nwb_ophys` use it for
their ground-truth spikes).
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from models.rundir import atomic_path

__all__ = ["add_spike_units", "read_spikes", "write_spikes"]


def write_spikes(path: str | Path, populations: Mapping[str, tuple[Any, Any, int]], *,
                 session_description: str, identifier: str | None = None,
                 session_start_time: _dt.datetime | None = None,
                 experiment_description: str | None = None,
                 notes: str | None = None) -> Path:
    """Write population spike trains to an NWB file's ``Units`` table.

    Parameters
    ----------
    path
        Target ``.nwb`` file (replaced atomically).
    populations
        Name -> ``(indices, times_s, size)``: spike neuron indices, spike times in seconds,
        and the population size.
    session_description
        Required NWB description of the session.
    identifier
        NWB identifier (a fresh UUID if omitted).
    session_start_time
        Start time (default: now, UTC).

    Returns
    -------
    Path
        ``path``.
    """
    nwbfile = new_nwbfile(session_description=session_description, identifier=identifier,
                          session_start_time=session_start_time,
                          experiment_description=experiment_description, notes=notes)
    add_spike_units(nwbfile, populations)
    return write_nwbfile(path, nwbfile)


def new_nwbfile(*, session_description: str, identifier: str | None = None,
                session_start_time: _dt.datetime | None = None,
                experiment_description: str | None = None, notes: str | None = None,
                **extra: Any) -> Any:
    """An in-memory ``NWBFile`` of a memcircuits run.

    A new identifier and the current UTC time unless given; ``extra`` goes to ``NWBFile``, e.g.
    ``keywords``, ``subject``.
    """
    from pynwb import NWBFile

    return NWBFile(
        session_description=session_description,
        identifier=identifier or str(uuid.uuid4()),
        session_start_time=session_start_time or _dt.datetime.now(_dt.timezone.utc),
        experiment_description=experiment_description,
        notes=notes,
        source_script="memcircuits",
        source_script_file_name="memcircuits",
        **extra,
    )


def write_nwbfile(path: str | Path, nwbfile: Any) -> Path:
    """Write ``nwbfile`` to ``path`` atomically (temporary name, then rename)."""
    from pynwb import NWBHDF5IO

    path = Path(path)
    with atomic_path(path) as tmp, NWBHDF5IO(str(tmp), "w") as io:
        io.write(nwbfile)
    return path


def add_spike_units(nwbfile: Any, populations: Mapping[str, tuple[Any, Any, int]], *,
                    resolution: float | None = None) -> None:
    """Add every population's spikes to ``nwbfile``'s ``Units`` table.

    This is what :func:`write_spikes` stores; :func:`read_spikes` reads it back from any file.

    One row per neuron that fired, with columns ``population`` and ``population_index``;
    population sizes go to scratch data ``population_size_<name>``. ``resolution`` (s), the
    simulation's time step, is stored as the table's spike-time resolution. Without any
    spike (every train empty) no ``Units`` table is written, only the sizes.
    """
    if any(len(np.asarray(times)) for _i, times, _n in populations.values()):
        if resolution is not None and nwbfile.units is None:
            from pynwb.misc import Units

            nwbfile.units = Units(name="units", resolution=float(resolution),
                                  description="simulated spikes (ground truth)")
        nwbfile.add_unit_column(name="population", description="simulated population name")
        nwbfile.add_unit_column(name="population_index",
                                description="index of the neuron within its population")
    for name, (indices, times, size) in populations.items():
        indices = np.asarray(indices, dtype=np.int64)
        times = np.asarray(times, dtype=float)
        if indices.shape != times.shape:
            raise ValueError(f"populations[{name!r}]: indices and times differ in length")
        if len(indices) and (indices.min() < 0 or indices.max() >= size):
            raise ValueError(f"populations[{name!r}]: neuron index outside 0..{size - 1}")
        order = np.lexsort((times, indices))
        indices, times = indices[order], times[order]
        neurons, starts = np.unique(indices, return_index=True)
        stops = np.append(starts[1:], len(indices))[: len(starts)]
        for neuron, start, stop in zip(neurons, starts, stops, strict=True):
            nwbfile.add_unit(spike_times=times[start:stop], population=name,
                             population_index=int(neuron))
        nwbfile.add_scratch(np.array([int(size)]), name=f"population_size_{name}",
                            description=f"number of neurons in population {name}")


def read_spikes(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """Read what :func:`write_spikes` wrote: name -> ``(indices, times_s, size)``.

    Parameters
    ----------
    path
        An NWB file written by :func:`write_spikes` (or any file whose ``Units`` table has
        its ``population`` and ``population_index`` columns).

    Returns
    -------
    dict[str, tuple[numpy.ndarray, numpy.ndarray, int]]
        Population name -> ``(indices, times_s, size)``: int64 neuron indices and float64
        spike times (s), sorted by time, and the population size.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    ValueError
        If it is not a readable NWB file of spikes (corrupt, truncated, another format),
        naming the file and the reader's reason in one line.
    """
    from pynwb import NWBHDF5IO

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NWB file not found: {path}")
    try:
        return _read_spikes(path, NWBHDF5IO)
    except (OSError, KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{path}: not a readable NWB file of spikes ({reason}); write it "
                         f"again with the circuit command") from exc


def _read_spikes(path: Path, NWBHDF5IO) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    indices: dict[str, list[np.ndarray]] = {}
    times: dict[str, list[np.ndarray]] = {}
    sizes: dict[str, int] = {}
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        for key, scratch in nwbfile.scratch.items():
            if key.startswith("population_size_"):
                sizes[key[len("population_size_"):]] = int(np.asarray(scratch.data).ravel()[0])
        units = nwbfile.units
        if units is not None and len(units):
            names = units["population"][:]
            local = units["population_index"][:]
            for row in range(len(units)):
                spikes = np.asarray(units.get_unit_spike_times(row), dtype=float)
                indices.setdefault(str(names[row]), []).append(
                    np.full(len(spikes), int(local[row]), dtype=np.int64))
                times.setdefault(str(names[row]), []).append(spikes)
    result = {}
    for name, size in sizes.items():
        i = np.concatenate(indices[name]) if name in indices else np.array([], np.int64)
        t = np.concatenate(times[name]) if name in times else np.array([])
        order = np.argsort(t, kind="stable")
        result[name] = (i[order], t[order], size)
    return result
