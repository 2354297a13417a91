r"""Frames and spike events: frame counts, times and indices, and spikes binned per frame.

Frame :math:`j` covers :math:`[j/f_s, (j+1)/f_s)` and is read at its end (see
:mod:`analysis.calcium`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models._checks import check_real

__all__ = [
    "SpikeEvents",
    "bin_spikes",
    "check_frame_rate",
    "frame_count",
    "frame_indices",
    "frame_times",
]


def check_frame_rate(fps: Any, dt: float | None = None) -> float:
    """``fps`` as a float > 0, refusing rates above the simulation's ``1/dt``."""
    fps = check_real("fps", fps, minimum=0.0, strict_minimum=True)
    if dt is not None:
        dt = check_real("dt", dt, minimum=0.0, strict_minimum=True)
        if fps * dt > 1 + 1e-9:
            raise ValueError(f"fps: {fps:g} Hz is above the simulation's time resolution "
                             f"1/dt = {1 / dt:g} Hz (dt = {dt:g} s); choose fps <= {1 / dt:g}")
    return fps


def frame_count(duration: float, fps: float) -> int:
    r"""Frames covering ``[0, duration)``: :math:`\lceil \mathrm{duration}\, f_s \rceil`."""
    duration = check_real("duration", duration, minimum=0.0)
    return math.ceil(duration * fps - 1e-9)


def frame_indices(times: Any, fps: float) -> np.ndarray:
    r"""Frame of each time: :math:`\lfloor t f_s \rfloor` (int64)."""
    return np.floor(np.asarray(times, dtype=float) * fps).astype(np.int64)


def frame_times(n_frames: int, fps: float) -> np.ndarray:
    """Read-out time of each frame, its end: :math:`t_j = (j + 1) / f_s`."""
    return (np.arange(n_frames) + 1.0) / fps


@dataclass(frozen=True)
class SpikeEvents:
    """Spikes driving one imaged population: neuron index, time (s), weight (AP-equivalents).

    ``weights`` None means 1 per spike. Several sources (e.g. simple spikes and complex
    spikes of a Purkinje cell) are concatenated with their own weights (:meth:`concat`).
    """

    indices: np.ndarray
    times: np.ndarray
    weights: np.ndarray | None = None

    @classmethod
    def of(cls, indices: Any, times: Any, weight: float = 1.0) -> SpikeEvents:
        """Events with one weight for every spike."""
        i = np.asarray(indices, dtype=np.int64).ravel()
        t = np.asarray(times, dtype=float).ravel()
        if i.shape != t.shape:
            raise ValueError(f"spikes: indices ({i.size}) and times ({t.size}) differ in "
                             f"length")
        return cls(i, t, None if weight == 1.0 else np.full(i.size, float(weight)))

    @staticmethod
    def concat(parts: Sequence[SpikeEvents]) -> SpikeEvents:
        """All spikes of ``parts`` (weights kept)."""
        if not parts:
            return SpikeEvents(np.array([], np.int64), np.array([]))
        i = np.concatenate([p.indices for p in parts])
        t = np.concatenate([p.times for p in parts])
        w = np.concatenate([p.weights if p.weights is not None else np.ones(p.indices.size)
                            for p in parts])
        return SpikeEvents(i, t, w)

    def weight_array(self) -> np.ndarray:
        """Weights, ones where None."""
        return np.ones(self.indices.size) if self.weights is None else self.weights

    def __len__(self) -> int:
        """Number of events."""
        return int(self.indices.size)


def _check_events(events: SpikeEvents, n_neurons: int, duration: float) -> None:
    i, t = events.indices, events.times
    if i.shape != t.shape or (events.weights is not None and events.weights.shape != i.shape):
        raise ValueError("spikes: indices, times and weights must have the same length")
    if i.size == 0:
        return
    if events.weights is not None and not (events.weights >= 0).all():
        raise ValueError("spikes: weights (AP-equivalents) must be >= 0")
    if i.min() < 0 or i.max() >= n_neurons:
        raise ValueError(f"spikes: neuron index outside 0..{n_neurons - 1}")
    if not np.isfinite(t).all() or t.min() < 0 or t.max() >= duration:
        raise ValueError(f"spikes: times must lie in [0, duration = {duration:g} s)")


def bin_spikes(events: SpikeEvents, n_neurons: int, n_frames: int, fps: float) -> np.ndarray:
    """``(n_neurons, n_frames)`` summed spike weights per frame (frame ``floor(t fps)``)."""
    j = frame_indices(events.times, fps)
    keep = (j >= 0) & (j < n_frames)
    flat = events.indices[keep] * n_frames + j[keep]
    w = events.weight_array()[keep]
    return np.bincount(flat, weights=w, minlength=n_neurons * n_frames).reshape(
        n_neurons, n_frames)


