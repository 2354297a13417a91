r"""Granule-cell observables as a calcium-imaging rig would measure them.

:func:`image_granule` takes one protocol run (:class:`~mapping.protocols.ProtocolRun`) and
does what a lab does: choose a field of view of ``cells`` granule cells at random, record
their fluorescence through the whole protocol (:func:`analysis.calcium_synthesis.synthesize`:
indicator kinetics, Hill saturation, neuropil, drift, shot noise at the noise level
:math:`\nu`), deconvolve each trace with OASIS (AR(1) with the indicator's fitted decay,
OASIS's fast solver; its AR(2) solver is pure Python and 50x slower;
:func:`analysis.calcium_deconvolution.deconvolve_oasis`), and call a cell *active* in a probe
when its inferred activity in the probe's frames reaches the detection threshold:

.. math:: a_{ip} = \frac{1}{s_1} \sum_{j \in F_p} \hat s_{ij} \ge \theta,
          \qquad \theta = \max(\theta_{\min},\ q_{1-\epsilon}),

with :math:`\hat s_{ij}` the inferred activity of cell :math:`i` in frame :math:`j`,
:math:`F_p` the frames whose centre lies within probe :math:`p`'s presentation slot (the
deconvolution places activity where the fluorescence rises, in the first frames after the
spike, not at the transient's peak), :math:`s_1` the inferred activity of one noise-free
action potential, :math:`\theta_{\min}` = ``threshold`` and :math:`q_{1-\epsilon}` the
:math:`1 - \epsilon` quantile of the same window sum in recordings of silent cells at the
same indicator, frame rate and noise level (``false_positive`` = :math:`\epsilon`): the
threshold a lab sets so that noise alone calls a silent cell active in at most a fraction
:math:`\epsilon` of probes (:func:`detection_threshold`). From the detected sets
come the imaged counterparts of :data:`mapping.protocols.OBSERVABLES`:

``imaged_coding_level``
    fraction of the imaged cells active in the probe;
``imaged_overlap``
    Jaccard overlap of the cells active in the probe with those active in the cue's
    baseline probe (NaN when neither set has a cell).

Presentations are imaged ``iti`` s apart (:func:`spaced`), as a lab spaces its trials.
Each field of view is drawn ``fields`` times (independent cells), and each field is
recorded twice with independent noise (``draw`` 0 and 1); the smaller sizes of ``cells``
are the first cells of the largest field. The spread over draws is the imaging noise, the
spread over fields the sampling of cells: the variance components a power analysis needs
(:mod:`mapping.power`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models._checks import check_int, check_real
from models.seeding import child_seed, numpy_rng

__all__ = ["IMAGED_OBSERVABLES", "Imaging", "detection_threshold", "image_granule",
           "one_ap_activity", "probe_frames", "spaced", "window_activity"]

#: the per-probe observables :func:`image_granule` measures
IMAGED_OBSERVABLES = ("imaged_overlap", "imaged_coding_level")


@dataclass(frozen=True)
class Imaging:
    """How the granule cells are imaged (calcium; :mod:`analysis.calcium`)."""

    indicator: str = "GCaMP6f"  #: calcium indicator preset (analysis.calcium_indicators)
    fps: float = 30.0  #: f_s: frame rate (Hz)
    noise_level: float = 1.0  #: nu (% Hz^-1/2, CASCADE's measure): 1 very good, > 5 poor
    cells: tuple[int, ...] = (50, 100, 200, 400)  #: field-of-view sizes (granule cells)
    fields: int = 3  #: independent fields of view per run (each recorded twice)
    threshold: float = 0.5  #: theta_min: inferred action potentials that make a cell active
    #: epsilon: fraction of probes in which noise alone may call a silent cell active
    false_positive: float = 0.01
    #: s of recording after the protocol (no spikes; the baseline a lab records, and enough
    #: frames for OASIS's windowed solver, which fails on traces of a few dozen frames)
    rest: float = 5.0
    #: s between the starts of consecutive presentations in the imaged experiment (0: as
    #: simulated, back to back); see :func:`spaced`
    iti: float = 3.0

    def validate(self, n_granule: int | None = None, dt: float | None = None) -> None:
        """Raise ``ValueError`` naming the first bad field.

        ``n_granule`` bounds ``cells``; ``dt`` (the simulation step, s) bounds ``fps``.
        """
        from analysis.calcium_frames import check_frame_rate
        from analysis.calcium_indicators import get_indicator

        get_indicator(self.indicator)
        check_frame_rate(self.fps, dt)
        check_real("imaging.noise_level", self.noise_level, minimum=0.0, strict_minimum=True)
        if not self.cells:
            raise ValueError("imaging.cells must list at least one field-of-view size")
        for n in self.cells:
            check_int("imaging.cells", n, minimum=2)
        if list(self.cells) != sorted(set(self.cells)):
            raise ValueError(f"imaging.cells must increase without repeats, got "
                             f"{list(self.cells)}")
        if n_granule is not None and max(self.cells) > n_granule:
            raise ValueError(f"imaging.cells: a field of {max(self.cells)} cells exceeds the "
                             f"circuit's {n_granule} granule cells")
        check_int("imaging.fields", self.fields, minimum=2)
        check_real("imaging.threshold", self.threshold, minimum=0.0, strict_minimum=True)
        check_real("imaging.rest", self.rest, minimum=0.0)
        check_real("imaging.iti", self.iti, minimum=0.0)
        check_real("imaging.false_positive", self.false_positive, minimum=0.0, maximum=0.5,
                   strict_minimum=True)


@functools.lru_cache(maxsize=32)
def one_ap_activity(indicator: str, fps: float) -> float:
    """:math:`s_1`: OASIS's total inferred activity for one noise-free action potential."""
    from analysis.calcium_deconvolution import deconvolve_oasis
    from analysis.calcium_indicators import fit_kernel
    from analysis.calcium_synthesis import one_ap_response

    kernel = fit_kernel(indicator)
    _, dff = one_ap_response(indicator, fps=fps, duration=2.0 + 10 * kernel.tau_decay,
                             spike_time=1.0)
    spikes, _, _ = deconvolve_oasis(dff, fps, tau_decay=kernel.tau_decay)
    return float(spikes.sum())


def spaced(run: Any, iti: float) -> Any:
    r"""``run`` with its presentations ``iti`` s apart, as an experiment spaces its trials.

    The circuit runs its presentations back to back (120-250 ms slots) and its state
    changes only through them (plasticity is gated to the stimuli; a rest is a slot of its
    own), so the spikes of a presentation are the same whenever it happens; an imaging rig
    needs the seconds between trials that real protocols have for the indicator to return
    to rest. Slot :math:`k` (its spikes and its probe window) moves to start at
    :math:`\max(s_0, \mathrm{iti}) + \sum_{j<k} \max(\ell_j, \mathrm{iti})`, with
    :math:`\ell_j` the length of slot :math:`j` (a rest longer than ``iti`` keeps its
    length): the recording holds ``iti`` s of baseline before the first presentation, as a
    lab records one (without it the first trial's calcium starts in the first frames, where
    the deconvolution has no baseline and misses it); spikes before the first slot (a
    lead-in) move with it. ``iti = 0`` returns ``run``.
    """
    from dataclasses import replace

    from circuits.spikes import SpikeTrains

    if iti <= 0:
        return run
    slots = np.asarray(run.slots, dtype=float)
    starts = max(slots[0, 0], iti) + np.concatenate(
        [[0.0], np.cumsum(np.maximum(slots[:-1, 1] - slots[:-1, 0], iti))])
    shift = starts - slots[:, 0]

    def moved(times: np.ndarray) -> np.ndarray:
        k = np.clip(np.searchsorted(slots[:, 0], times, side="right") - 1, 0, None)
        return times + shift[k]

    spikes = {}
    for name, trains in run.spikes.items():
        t = moved(trains.times)
        order = np.argsort(t, kind="stable")
        spikes[name] = SpikeTrains(trains.indices[order], t[order], trains.size, trains.name)
    new_slots = np.stack([starts, starts + slots[:, 1] - slots[:, 0]], axis=1)
    return replace(run, spikes=spikes, slots=new_slots, duration=float(new_slots[-1, 1]))


def window_activity(traces: Any, frames: list[np.ndarray]) -> np.ndarray:
    r"""Inferred activity (action potentials) of every trace in every window ``(N, W)``.

    OASIS AR(1) with the indicator's decay and each trace's measured noise (its CASCADE level
    :math:`\nu` as a per-frame sd: :math:`\nu \sqrt{f_s} / (100 \cdot 0.954)`).
    """
    from analysis.calcium_ar import _MAD_DIFF
    from analysis.calcium_deconvolution import deconvolve_oasis
    from analysis.calcium_indicators import fit_kernel

    fps, indicator = float(traces.fps), traces.indicator
    kernel = fit_kernel(indicator)
    sd = np.asarray(traces.noise_level, dtype=float) / 100 * np.sqrt(fps) / _MAD_DIFF
    inferred = np.stack([deconvolve_oasis(trace, fps, tau_decay=kernel.tau_decay,
                                          sn=float(sn))[0]
                         for trace, sn in zip(np.asarray(traces.dff, dtype=float), sd,
                                              strict=True)])
    return np.stack([inferred[:, k].sum(axis=1) for k in frames], axis=1) / one_ap_activity(
        indicator, fps)


@functools.lru_cache(maxsize=32)
def detection_threshold(indicator: str, fps: float, noise_level: float, window: float,
                        threshold: float = 0.5, false_positive: float = 0.01, *,
                        cells: int = 200, duration: float = 20.0, seed: int = 0) -> float:
    r""":math:`\theta`: the activity that calls a cell active in a window of ``window`` s.

    The larger of ``threshold`` and the ``1 - false_positive`` quantile of the inferred
    activity in windows of ``window`` s of ``cells`` silent cells recorded for ``duration``
    s at the same indicator, frame rate and noise level.
    """
    from analysis.calcium_frames import SpikeEvents
    from analysis.calcium_synthesis import SynthesisParams, synthesize

    traces = synthesize(SpikeEvents.of([], []), cells, duration,
                        SynthesisParams(indicator=indicator, fps=fps, noise_level=noise_level),
                        seed=child_seed(seed, "silent_cells"))
    edges = np.arange(1.0, duration - window, window)
    frames = probe_frames(np.stack([edges, edges + window], axis=1), fps, traces.n_frames)
    activity = window_activity(traces, frames)
    return max(float(threshold), float(np.quantile(activity, 1 - false_positive)))


def probe_frames(windows: np.ndarray, fps: float, n_frames: int) -> list[np.ndarray]:
    """Frames whose centre lies within each window."""
    centres = (np.arange(n_frames) + 0.5) / fps
    return [np.flatnonzero((centres >= a - 1e-12) & (centres < b - 1e-12)) for a, b in windows]


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = int(np.count_nonzero(a | b))
    return int(np.count_nonzero(a & b)) / union if union else float("nan")


def image_granule(run: Any, imaging: Imaging, *, seed: int = 0) -> list[dict[str, Any]]:
    """The imaged observables of every probe of ``run``, per field size, field and draw.

    Parameters
    ----------
    run
        A :class:`~mapping.protocols.ProtocolRun` (its granule spikes, probe slots, rows).
    imaging
        Indicator, frame rate, noise level, field sizes, fields, threshold.
    seed
        Seeds the fields of view and the imaging noise (named child seeds).

    Returns
    -------
    list of dict
        One row per field, draw, field size and probe: ``index`` (the probe's
        presentation number), ``cells``, ``field``, ``draw`` and the
        :data:`IMAGED_OBSERVABLES`.
    """
    from analysis.calcium_frames import SpikeEvents
    from analysis.calcium_synthesis import SynthesisParams, synthesize

    imaging.validate(run.spikes["granule"].size)
    run = spaced(run, imaging.iti)
    granule = run.spikes["granule"]
    windows = np.asarray(run.windows, dtype=float)
    theta = detection_threshold(imaging.indicator, float(imaging.fps),
                                float(imaging.noise_level),
                                float(np.max(windows[:, 1] - windows[:, 0])),
                                float(imaging.threshold), float(imaging.false_positive))
    synthesis = SynthesisParams(indicator=imaging.indicator, fps=imaging.fps,
                                noise_level=imaging.noise_level)
    largest = max(imaging.cells)
    out = []
    for f in range(imaging.fields):
        chosen = numpy_rng(seed, "imaged_field", f).permutation(granule.size)[:largest]
        position = np.full(granule.size, -1)
        position[chosen] = np.arange(largest)
        keep = position[granule.indices] >= 0
        events = SpikeEvents.of(position[granule.indices[keep]], granule.times[keep])
        for draw in (0, 1):
            traces = synthesize(events, largest, run.duration + imaging.rest, synthesis,
                                seed=child_seed(seed, "imaged_noise", f, draw))
            frames = probe_frames(windows, imaging.fps, traces.n_frames)
            activity = window_activity(traces, frames)
            out.extend(_observables(run.rows, activity >= theta, imaging.cells, f, draw))
    return out


def _observables(rows: Sequence[dict[str, Any]], active: np.ndarray, sizes: Sequence[int],
                 field: int, draw: int) -> list[dict[str, Any]]:
    """Imaged coding level and overlap per field size and probe (rows in probe order)."""
    baseline = {row["cue"]: p for p, row in enumerate(rows) if row["phase"] == "baseline"}
    out = []
    for n in sizes:
        seen = active[:n]
        for p, row in enumerate(rows):
            out.append({"index": row["index"], "cells": int(n), "field": field, "draw": draw,
                        "imaged_overlap": _jaccard(seen[:, p], seen[:, baseline[row["cue"]]]),
                        "imaged_coding_level": float(seen[:, p].mean())})
    return out
