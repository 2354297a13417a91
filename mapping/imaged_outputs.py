r"""Purkinje cells through voltage, PF->PC synapses through a spine sensor, teaching by calcium.

The companions of :mod:`mapping.imaged` (granule cells through calcium) for the three other
signals an experiment would image in the talk's protocol:

``imaged_simple_spikes_a`` / ``_b``
    Each probe's Purkinje membrane potential and spikes (``record_protocol(voltage=True)``)
    go through a voltage indicator (:func:`analysis.voltage_imaging.synthesize_voltage`:
    indicator kinetics, a stereotyped simple spike added to the LIF trace, frame
    integration, shot noise at spike SNR ``spike_snr``); spikes are detected in the frames
    (:func:`~analysis.voltage_imaging.detect_spikes`) and counted in the decode window; the
    value is the mean count over the group's Purkinje cells (the counterpart of
    ``simple_spikes_a`` / ``_b``).
``imaged_efficacy_a`` / ``_b``
    ``synapses`` PF->PC synapses per cue and action group, drawn from those of the cue's
    baseline granule cells (the spines a lab finds responding to the cue), imaged through a
    surface AMPA-receptor sensor (SEP-GluA2 by default:
    :func:`analysis.synaptic_imaging.image_synapses`; PF->PC long-term depression is the
    endocytosis of GluA2-containing receptors, a postsynaptic change). The efficacy of each
    synapse is its weight over the baseline weight :math:`w/w_0` during each probe, changing
    when the presentation before the probe ends; the presentations are spaced
    ``synaptic_iti`` s apart (time-lapse imaging), the efficacy estimated over the interval
    from each probe to the next presentation relative to the cue's baseline probe
    with the ROIs pooled (one common level fitted to them,
    :func:`~analysis.synaptic_imaging.pooled_efficacy`; 1: no change; below 1: depressed).
    It sees :math:`w` only: the opposing trace of H3, a change of the fibres' input to
    interneurons, is invisible to a sensor at the PF->PC spine.

    In the mushroom body the change is presynaptic (less acetylcholine released per
    Kenyon-cell spike: :mod:`mapping.preparations`) and the default sensor is a release
    sensor at the Kenyon-cell boutons (GRAB-ACh3.0): each ROI's signal is its Kenyon cell's
    spikes scaled by the synapse's efficacy, and the estimate is the response per spike
    (a ROI whose cell is silent in a probe adds nothing to that probe's fit).
``imaged_complex_spikes_a`` / ``_b``
    The teaching signal through a calcium indicator (GCaMP6f at 30 Hz, nu = 1 by default):
    each Purkinje cell's dendrite is one ROI whose calcium comes from its climbing-fibre
    spikes, each a complex spike worth the ``teaching_population``'s AP-equivalents of
    calcium (:data:`analysis.calcium_presets.POPULATION_PRESETS`: 4 in a Purkinje
    dendrite; in the mushroom body, the compartment's dopaminergic terminals, 1 per spike),
    synthesised through the whole protocol with the presentations ``synaptic_iti`` s apart
    (:func:`analysis.calcium_synthesis.synthesize`) and deconvolved (OASIS); the inferred
    activity in the frames of the cue's training presentation of the probe's trial (in a
    trial without one, the probe's own presentation), over that of one isolated complex
    spike imaged the same way (a lab's calibration), is the imaged count, mean over the
    group's cells (the counterpart of ``complex_spikes_a`` / ``_b``; not proportional to
    it: GCaMP6f's Hill curve is supralinear over a few complex spikes, so a burst of 4
    reads as ~8).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mapping.protocols import action_groups
from models._checks import check_int, check_real
from models.seeding import child_seed, numpy_rng

__all__ = ["OUTPUT_OBSERVABLES", "SPINE_OBSERVABLES", "OutputImaging", "image_outputs",
           "image_spines"]

#: the per-probe observables :func:`image_outputs` measures
OUTPUT_OBSERVABLES = ("imaged_simple_spikes_a", "imaged_simple_spikes_b", "imaged_efficacy_a",
                      "imaged_efficacy_b", "imaged_complex_spikes_a", "imaged_complex_spikes_b")
#: the synaptic observables, at every sample size in :func:`image_spines`'s rows
SPINE_OBSERVABLES = ("imaged_efficacy_a", "imaged_efficacy_b")


#: default frame rates (Hz) of a receptor sensor (time-lapse of a slow surface signal) and of
#: a release sensor (transients of ~1 s, GRAB-ACh3.0; an assumption: a typical 2-photon rate)
RECEPTOR_FPS, RELEASE_FPS = 1.0, 10.0


@dataclass(frozen=True)
class OutputImaging:
    """How Purkinje cells and PF->PC synapses are imaged."""

    voltage_indicator: str = "ASAP3"  #: analysis.voltage_imaging preset
    voltage_fps: float = 1000.0  #: Hz
    #: peak 1-AP frame dF/F over the frame noise sd (an assumption: set it from your rig)
    spike_snr: float = 8.0
    #: analysis.synaptic_imaging preset; "auto": the preparation's sensor (SEP-GluA2 at
    #: cerebellar PF->PC spines, GRAB-ACh3.0 at mushroom-body KC boutons)
    synaptic_indicator: str = "auto"
    #: Hz; None: the sensor's (1 Hz time-lapse for a receptor sensor, RELEASE_FPS for a
    #: release sensor, whose transients last about a second)
    synaptic_fps: float | None = None
    #: sigma_30: dF/F sd per frame at 30 Hz of one spine ROI (an assumption: dim spines)
    synaptic_noise: float = 0.2
    synapses: int = 20  #: imaged PF->PC synapses per cue and action group
    synaptic_iti: float = 30.0  #: s between presentations in the time-lapse experiment
    #: synapses per cue and group in the power analysis's fields (image_spines)
    spine_counts: tuple[int, ...] = (5, 10, 20, 40)
    spine_fields: int = 3  #: independent samples of synapses per run (each imaged twice)
    #: the calcium indicator, frame rate (Hz) and noise level nu of the teaching signal
    #: (Purkinje dendrites; dopaminergic terminals in the mushroom body)
    teaching_indicator: str = "GCaMP6f"
    teaching_fps: float = 30.0
    teaching_noise: float = 1.0

    def validate(self, dt: float | None = None, preparation: Any = None) -> None:
        """Raise ``ValueError`` naming the first bad field.

        ``dt`` bounds the frame rate; the synaptic sensor is checked as ``preparation``
        (a :class:`~mapping.preparations.Preparation`) would use it, or as every one would.
        """
        from analysis.synaptic_imaging import SynapticImagingParams
        from analysis.voltage_imaging import VoltageImagingParams, get_voltage_indicator

        VoltageImagingParams(indicator=self.voltage_indicator, fps=self.voltage_fps,
                             spike_snr=self.spike_snr).validate()
        ind = get_voltage_indicator(self.voltage_indicator)
        if not ind.min_fps <= self.voltage_fps <= ind.max_fps:
            raise ValueError(f"outputs.voltage_fps: {self.voltage_fps:g} Hz is outside "
                             f"[{ind.min_fps:g}, {ind.max_fps:g}] Hz, the frame rates the "
                             f"{ind.name} model supports")
        if dt is not None and self.voltage_fps * dt > 1 + 1e-9:
            raise ValueError(f"outputs.voltage_fps: {self.voltage_fps:g} Hz is above the "
                             f"simulation's time resolution 1/dt = {1 / dt:g} Hz")
        from mapping.preparations import PREPARATIONS

        for prep in [preparation] if preparation is not None else PREPARATIONS.values():
            sensor, fps = self.sensor(prep)
            SynapticImagingParams(indicator=sensor, fps=fps,
                                  noise=self.synaptic_noise).validate()
        check_int("outputs.synapses", self.synapses, minimum=1)
        if not self.spine_counts:
            raise ValueError("outputs.spine_counts must list at least one count")
        for count in self.spine_counts:
            check_int("outputs.spine_counts", count, minimum=1)
        check_int("outputs.spine_fields", self.spine_fields, minimum=2)
        check_real("outputs.synaptic_iti", self.synaptic_iti, minimum=0.0,
                   strict_minimum=True)
        from analysis.calcium_indicators import INDICATORS

        if self.teaching_indicator not in INDICATORS:
            raise ValueError(f"outputs.teaching_indicator: unknown calcium indicator "
                             f"{self.teaching_indicator!r}; known: {', '.join(INDICATORS)}")
        check_real("outputs.teaching_fps", self.teaching_fps, minimum=0.0, strict_minimum=True)
        if dt is not None and self.teaching_fps * dt > 1 + 1e-9:
            raise ValueError(f"outputs.teaching_fps: {self.teaching_fps:g} Hz is above the "
                             f"simulation's time resolution 1/dt = {1 / dt:g} Hz")
        check_real("outputs.teaching_noise", self.teaching_noise, minimum=0.0,
                   strict_minimum=True)


    def sensor(self, preparation: Any) -> tuple[str, float]:
        """The synaptic sensor and its frame rate (Hz) on ``preparation``."""
        from analysis.synaptic_imaging import get_synaptic_indicator

        name = (preparation.synaptic_indicator if self.synaptic_indicator == "auto"
                else self.synaptic_indicator)
        if self.synaptic_fps is not None:
            return name, float(self.synaptic_fps)
        release = get_synaptic_indicator(name).reports == "release"
        return name, RELEASE_FPS if release else RECEPTOR_FPS


def _groups(n: int) -> dict[str, np.ndarray]:
    """Observable suffix ("a", "b") -> the action's Purkinje cells (of ``n`` outputs)."""
    return {name.lower(): cells for name, cells in action_groups(n).items()}


def _simple_spikes(run: Any, imaging: OutputImaging, seed: int) -> list[dict[str, float]]:
    """Detected simple spikes per probe, mean over each group's Purkinje cells."""
    from analysis.voltage_imaging import (
        VoltageImagingParams,
        count_in_windows,
        detect_spikes,
        get_voltage_indicator,
        spikes_from_frames,
        synthesize_voltage,
    )

    if run.voltage is None:
        raise ValueError("imaging Purkinje cells needs their membrane potential: "
                         "record_protocol(..., voltage=True)")
    purkinje = run.spikes["purkinje"]
    params = VoltageImagingParams(indicator=imaging.voltage_indicator, fps=imaging.voltage_fps,
                                  spike_snr=imaging.spike_snr)
    polarity = get_voltage_indicator(imaging.voltage_indicator).polarity
    groups = _groups(purkinje.size)
    out = []
    for p, (start, stop) in enumerate(run.windows):
        lo, hi = round(start / run.dt), round(stop / run.dt)
        sel = (purkinje.times >= start) & (purkinje.times < stop)
        traces = synthesize_voltage(run.voltage[:, lo:hi], run.dt, purkinje.indices[sel],
                                    purkinje.times[sel] - lo * run.dt, params,
                                    seed=child_seed(seed, "voltage", p))
        frames = detect_spikes(traces.dff, traces.fps, polarity=polarity)
        cells, times = spikes_from_frames(frames, traces.fps)
        counts = count_in_windows(cells, times, purkinje.size, [(0.0, run.decode)])[:, 0]
        out.append({f"imaged_simple_spikes_{g}": float(counts[c].mean())
                    for g, c in groups.items()})
    return out


#: calibration dendrites imaged beside the protocol's, and their complex-spike period (s)
CALIBRATION_CELLS, CALIBRATION_PERIOD = 20, 6.0


def _calibration_spikes(duration: float, first: int) -> tuple[np.ndarray, np.ndarray]:
    """ROI indices and times (s) of the calibration dendrites' complex spikes, ``(20, m)`` each.

    Dendrite ``k`` (ROI ``first + k``) fires every ``CALIBRATION_PERIOD`` s from
    ``3 + 0.3 k`` s, as many times as fit in ``duration`` s (at least once): staggered, so
    the neuropil holds no synchronous transient.
    """
    k = np.arange(CALIBRATION_CELLS)[:, None]
    last = 3.0 + CALIBRATION_PERIOD  # the latest first spike, plus its 3 s of recording
    count = max(1, int((duration - last) // CALIBRATION_PERIOD) + 1)
    onsets = 3.0 + k * CALIBRATION_PERIOD / CALIBRATION_CELLS + np.arange(count)[
        None, :] * CALIBRATION_PERIOD
    return np.broadcast_to(first + k, onsets.shape), onsets


def _complex_spikes(run: Any, imaging: OutputImaging, seed: int, preparation: Any
                    ) -> list[dict[str, float]]:
    """Imaged teaching signal per probe: complex spikes per cell of each group."""
    from analysis.calcium_frames import SpikeEvents
    from analysis.calcium_presets import get_preset
    from analysis.calcium_synthesis import SynthesisParams, synthesize
    from mapping.imaged import probe_frames, spaced, window_activity

    population = get_preset(preparation.teaching_population)
    # calcium per teaching spike: a dendrite's climbing-fibre input, a terminal's own spike
    weight = population.partner_weight or population.spike_weight
    timeline = spaced(run, imaging.synaptic_iti)
    climbing = timeline.spikes["climbing"]
    cells, onsets = _calibration_spikes(timeline.duration + imaging.synaptic_iti,
                                        climbing.size)
    duration = max(timeline.duration + imaging.synaptic_iti, float(onsets.max()) + 3.0)
    events = SpikeEvents.of(np.concatenate([climbing.indices, cells.ravel()]),
                            np.concatenate([climbing.times, onsets.ravel()]), weight)
    traces = synthesize(events, climbing.size + CALIBRATION_CELLS, duration,
                        SynthesisParams(indicator=imaging.teaching_indicator,
                                        fps=imaging.teaching_fps,
                                        noise_level=imaging.teaching_noise),
                        seed=child_seed(seed, "teaching_calcium"))
    fps = float(imaging.teaching_fps)
    slot = [run.training.get(p, row["index"]) for p, row in enumerate(run.rows)]
    windows = timeline.slots[slot]
    # one complex spike's inferred activity, in windows as long as the protocol's from
    # 50 ms before each calibration spike (a lab's calibration on isolated complex spikes)
    length = float(np.max(windows[:, 1] - windows[:, 0]))
    starts = onsets.ravel() - 0.05
    calibration = np.stack([starts, starts + length], axis=1)
    activity = window_activity(traces, probe_frames(np.concatenate([windows, calibration]),
                                                      fps, traces.n_frames))
    # each calibration window of its own dendrite (one deconvolution of every trace)
    per_spike = activity[cells.ravel(), len(windows) + np.arange(cells.size)].mean()
    count = activity[:climbing.size, :len(windows)] / per_spike  # (cells, probes)
    groups = _groups(climbing.size)
    return [{f"imaged_complex_spikes_{g}": float(count[c, p].mean())
             for g, c in groups.items()} for p in range(len(run.rows))]


def _presynaptic(trains: Any, cells: np.ndarray) -> Any:
    """The spikes of ``cells`` (one ROI each, in order) as synapse events (none: no trains)."""
    from analysis.calcium_frames import SpikeEvents

    if trains is None:
        return SpikeEvents.of([], [])
    position = np.full(trains.size, -1)
    position[cells] = np.arange(len(cells))
    roi = position[trains.indices]
    mine = roi >= 0
    return SpikeEvents.of(roi[mine], trains.times[mine])


def _spine_estimates(run: Any, imaging: OutputImaging, seed: int, w0: float,
                     preparation: Any, fields: int, draws: int, rois: int
                     ) -> dict[tuple[int, str, int, int], tuple[list[int], Any, int]]:
    """Per-synapse imaged levels of every cue's probes, per field and noise draw.

    ``(cue, group, field, draw) -> (probe positions, (numerators, denominators), baseline
    column)``: the ``(rois, probes)`` levels of
    :func:`analysis.synaptic_imaging.window_levels`. Field ``f`` images ``rois`` synapses
    drawn from the cue's baseline granule cells onto the group (field 0 the draw
    ``image_outputs`` reports), each field imaged ``draws`` times with fresh noise.
    """
    from analysis.synaptic_imaging import SynapticImagingParams, image_synapses
    from mapping.imaged import spaced

    timeline = spaced(run, imaging.synaptic_iti)
    sensor, fps = imaging.sensor(preparation)
    params = SynapticImagingParams(indicator=sensor, fps=fps,
                                   noise=imaging.synaptic_noise,
                                   site=preparation.plasticity_site)
    release = params.ind.reports == "release"
    groups = _groups(int(run.pf_post.max()) + 1)
    slot = np.array([row["index"] for row in run.rows])  # each probe's presentation
    starts = timeline.slots[slot, 0]
    # measured from each probe's onset until the next presentation
    duration = timeline.duration + imaging.synaptic_iti  # the last probe's interval too
    ends = np.append(timeline.slots[:, 0], duration)[slot + 1]
    windows = np.stack([starts, ends], axis=1)
    # a probe's weights were set by the presentation before it: they change when it ends
    before = slot - 1
    change = np.concatenate([[0.0], np.where(before >= 0, timeline.slots[np.maximum(
        before, 0), 1], starts)])
    for k in range(1, len(change)):  # strictly increasing (a first probe at time 0)
        change[k] = max(change[k], change[k - 1] + 1e-6)
    out = {}
    for cue, cells in sorted(run.baseline_cells.items()):
        probes = [p for p, row in enumerate(run.rows) if row["cue"] == cue]
        base = next(p for p in probes if run.rows[p]["phase"] == "baseline")
        for g, post in groups.items():
            pool = np.flatnonzero(np.isin(run.pf_pre, cells) & np.isin(run.pf_post, post))
            for f in range(fields):
                if not len(pool):
                    empty = np.zeros((0, len(probes)))
                    for d in range(draws):
                        out[(cue, g, f, d)] = (probes, (empty, empty), probes.index(base))
                    continue
                key = ("imaged_synapses", cue, g) if f == 0 else ("imaged_synapses", cue,
                                                                  g, f)
                chosen = numpy_rng(seed, *key).permutation(pool)[:rois]
                efficacy = np.concatenate([np.ones((len(chosen), 1)),
                                           run.weights[:, chosen].T / w0], axis=1)
                # a release sensor sees the boutons' spikes; a receptor sensor needs none
                events = _presynaptic(timeline.spikes["granule"] if release else None,
                                      run.pf_pre[chosen])
                for d in range(draws):
                    noise = ("synaptic_noise", cue, g) if (f, d) == (0, 0) else (
                        "synaptic_noise", cue, g, f, d)
                    images = image_synapses(events, len(chosen), duration, efficacy, params,
                                            change_times=change, seed=child_seed(seed, *noise))
                    out[(cue, g, f, d)] = (probes, images.levels(windows[probes]),
                                           probes.index(base))
    return out


def _pooled(levels: Any, baseline: int, count: int) -> np.ndarray:
    """Efficacy per probe of the first ``count`` synapses together (their levels pooled)."""
    from analysis.synaptic_imaging import pooled_efficacy

    numerator, denominator = levels
    return pooled_efficacy(numerator[:count], denominator[:count], baseline)


def _efficacies(run: Any, imaging: OutputImaging, seed: int, w0: float, preparation: Any
                ) -> list[dict[str, float]]:
    """Imaged efficacy per probe relative to the cue's baseline, mean over the ROIs."""
    out: list[dict[str, float]] = [{} for _ in run.rows]
    estimates = _spine_estimates(run, imaging, seed, w0, preparation, fields=1, draws=1,
                                 rois=imaging.synapses)
    for (_, g, _, _), (probes, levels, base) in estimates.items():
        efficacy = _pooled(levels, base, imaging.synapses)
        for k, p in enumerate(probes):
            out[p][f"imaged_efficacy_{g}"] = float(efficacy[k])
    return out


def image_spines(run: Any, imaging: OutputImaging, *, w0: float, seed: int = 0,
                 preparation: str = "cerebellum") -> list[dict[str, Any]]:
    """The synaptic observables at every sample size, field and noise draw (power analysis).

    Like :func:`image_outputs`'s ``imaged_efficacy_a`` / ``_b``, for ``spine_counts``
    synapses per cue and group in ``spine_fields`` independent samples, each imaged twice:
    rows of ``index``, ``cells`` (synapses per cue and group), ``field``, ``draw`` and the
    two observables, the shape of :func:`mapping.imaged.image_granule`'s rows that
    :func:`mapping.power.power_table` reads. Field 0, draw 0 holds the synapses
    :func:`image_outputs` reports.
    """
    from mapping.preparations import get_preparation

    prep = get_preparation(preparation)
    imaging.validate(run.dt or None, prep)
    largest = max(max(imaging.spine_counts), imaging.synapses)
    estimates = _spine_estimates(run, imaging, seed, w0, prep, fields=imaging.spine_fields,
                                 draws=2, rois=largest)
    rows: dict[tuple[int, int, int, int], dict[str, Any]] = {}
    for (_, g, f, d), (probes, levels, base) in estimates.items():
        for count in imaging.spine_counts:
            efficacy = _pooled(levels, base, count)
            for k, p in enumerate(probes):
                row = rows.setdefault((p, count, f, d), {
                    "index": run.rows[p]["index"], "cells": int(count), "field": f,
                    "draw": d})
                row[f"imaged_efficacy_{g}"] = float(efficacy[k])
    return [rows[key] for key in sorted(rows)]


def image_outputs(run: Any, imaging: OutputImaging, *, w0: float, seed: int = 0,
                  preparation: str = "cerebellum") -> list[dict[str, Any]]:
    """The :data:`OUTPUT_OBSERVABLES` of every probe of ``run`` (a recorded protocol run).

    Parameters
    ----------
    run
        A :class:`~mapping.protocols.ProtocolRun` recorded with ``voltage=True``.
    imaging
        Indicators, frame rates, noise levels, imaged synapses and their spacing.
    w0
        The baseline PF->PC weight (efficacy 1).
    seed
        Seeds the imaged synapses and every noise draw (named child seeds).
    preparation
        ``"cerebellum"`` or ``"mushroom_body"`` (:mod:`mapping.preparations`): where the
        taught synapses change (receptors or release) and the ``"auto"`` sensor.

    Returns
    -------
    list of dict
        One row per probe, in ``run.rows`` order: ``index`` and the observables.
    """
    from mapping.preparations import get_preparation

    prep = get_preparation(preparation)
    imaging.validate(run.dt or None, prep)
    spikes = _simple_spikes(run, imaging, seed)
    synapses = _efficacies(run, imaging, seed, w0, prep)
    teaching = _complex_spikes(run, imaging, seed, prep)
    return [{"index": row["index"], **a, **b, **c}
            for row, a, b, c in zip(run.rows, spikes, synapses, teaching, strict=True)]
