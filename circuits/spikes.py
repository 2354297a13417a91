"""One spike-train type for every circuit: :class:`SpikeTrains`.

Every readout of :mod:`circuits` (:class:`~circuits.CerebellarSDM`,
:class:`~circuits.HippocampalLoop`, :class:`~circuits.CA3Circuit`) holds its spikes as a
``dict`` population name -> :class:`SpikeTrains`: the population's name and size, and the
neuron index and time of every spike, plain numpy in seconds (``indices``, ``times``) with a
unit-aware Brian2 view (``i``, ``t``, as on a ``brian2.SpikeMonitor``).

NWB: a :class:`SpikeTrains` unpacks as the triple ``(indices, times_s, size)`` that
:func:`analysis.nwb.write_spikes` takes, so a readout's spikes go to NWB as they are::

    from analysis.nwb import read_spikes, write_spikes

    write_spikes("run.nwb", readout.spikes, session_description="my run")
    read_spikes("run.nwb")["memory"]        # (indices, times_s, size)

The conversion is this protocol rather than a ``to_nwb`` method because ``circuits`` may
import ``models`` only (``analysis`` never imports ``circuits``): the NWB writer lives once,
in :mod:`analysis.nwb`, and takes plain arrays. :meth:`SpikeTrains.from_monitor` wraps a
monitor of the user's own the same way; :func:`as_populations` gives plain tuples.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import brian2
import numpy as np
from brian2 import second

__all__ = ["SpikeTrains", "as_populations"]


@dataclass(frozen=True, eq=False)
class SpikeTrains:
    """Spikes of one population, sorted by time.

    Unpacks as ``(indices, times, size)``: ``i, t_s, n = trains``, the form
    :func:`analysis.nwb.write_spikes` takes for each population.

    Attributes
    ----------
    indices
        ``(S,)`` int64 neuron index of every spike (``0 <= index < size``).
    times
        ``(S,)`` float64 spike times in seconds.
    size
        Number of neurons in the population.
    name
        The population's name (the key it has in a readout's ``spikes``).
    """

    indices: np.ndarray
    times: np.ndarray
    size: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        """Check and normalise the arrays (int64 indices, float64 times, both 1-D)."""
        indices = np.asarray(self.indices, dtype=np.int64)
        times = np.asarray(self.times, dtype=np.float64)
        if indices.shape != times.shape or indices.ndim != 1:
            raise ValueError(f"spike trains {self.name!r}: indices and times must be 1-D "
                             f"arrays of one length, got {indices.shape} and {times.shape}")
        object.__setattr__(self, "indices", indices)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "size", int(self.size))

    @classmethod
    def from_monitor(cls, monitor: brian2.SpikeMonitor, name: str | None = None
                     ) -> SpikeTrains:
        """The spikes a ``brian2.SpikeMonitor`` recorded (sorted by time, stable).

        Parameters
        ----------
        monitor
            A monitor after the run (the user's own, or a circuit's).
        name
            Population name (default: the monitored group's name).
        """
        times = np.asarray(monitor.t[:] / second, dtype=np.float64)
        indices = np.asarray(monitor.i[:], dtype=np.int64)
        order = np.argsort(times, kind="stable")
        return cls(indices=indices[order], times=times[order], size=len(monitor.source),
                   name=monitor.source.name if name is None else name)

    def __iter__(self) -> Iterator:
        """``(indices, times, size)``: what :func:`analysis.nwb.write_spikes` takes."""
        return iter((self.indices, self.times, self.size))

    def __len__(self) -> int:
        """Number of spikes."""
        return len(self.indices)

    def __repr__(self) -> str:
        """Name, population size and spike count."""
        return (f"SpikeTrains(name={self.name!r}, size={self.size}, "
                f"spikes={len(self.indices)})")

    @property
    def i(self) -> np.ndarray:
        """Neuron indices (as ``SpikeMonitor.i``)."""
        return self.indices

    @property
    def t(self) -> brian2.Quantity:
        """Spike times with units (as ``SpikeMonitor.t``)."""
        return self.times * second

    def window(self, start: float, stop: float) -> SpikeTrains:
        """The spikes in ``[start, stop)`` (seconds), times unchanged."""
        sel = (self.times >= start) & (self.times < stop)
        return SpikeTrains(self.indices[sel], self.times[sel], self.size, self.name)

    def counts(self, n: int | None, windows: np.ndarray) -> np.ndarray:
        """Spike counts ``(len(windows), n)`` in half-open windows ``[start, stop)`` (s).

        ``n`` None: the population size.
        """
        n = self.size if n is None else n
        out = np.zeros((len(windows), n), dtype=np.int64)
        for k, (start, stop) in enumerate(windows):
            sel = (self.times >= start) & (self.times < stop)
            out[k] = np.bincount(self.indices[sel], minlength=n)
        return out


def as_populations(spikes: Mapping[str, SpikeTrains]
                   ) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """Name -> plain ``(indices, times_s, size)`` tuples (what :mod:`analysis.nwb` reads back).

    E.g. for ``numpy.savez`` or a comparison with :func:`analysis.nwb.read_spikes`.
    """
    return {name: (trains.indices, trains.times, trains.size)
            for name, trains in spikes.items()}
