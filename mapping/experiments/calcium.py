r"""``memcircuits calcium RUN_DIR``: synthetic calcium imaging of a circuit run, in NWB.

Reads the spikes a circuit command wrote (``RUN_DIR/spikes.nwb``, via
:func:`analysis.nwb.read_spikes`) and synthesises, for every imaged population, what a
two-photon experiment would record (:func:`analysis.calcium.synthesize`): raw ROI
fluorescence, neuropil, dF/F at the requested noise level :math:`\nu`, optionally a movie.

Population presets (:data:`analysis.calcium.POPULATION_PRESETS`), by population name:

========================  =====================================================================
``GrC``, ``KC``           ``granule_soma``
``PC``                    ``purkinje_dendrite``: driven by the complex spikes of the climbing
                          fibre with the same index (``CF``); simple spikes add no dendritic
                          calcium
``HPC``                   ``place_cell`` (the loop's memory neurons)
``MF``, ``CF``, ``PN``,    not imaged (input axons)
``DAN``
anything else             ``soma``
========================  =====================================================================

``populations = ["NAME=preset", "NAME=none"]`` overrides the table. Each population is one
field of view of at most ``max_rois`` neurons (a random subset when larger) and never more
ROIs than frames (NWB's time-first orientation check). The recording lasts the run's
``simulated_s`` (``metrics.json``) or, failing that, its last spike plus ``tail`` seconds.
The simulation time step ``dt`` comes from the run's ``config.json`` (any ``dt`` field)
unless set; ``fps > 1/dt`` is refused.

Data: ``calcium.nwb`` (ImagingPlane, PlaneSegmentation, Fluorescence / Neuropil / DfOverF,
TwoPhotonSeries with ``movie``, and every population's spikes as ground truth in Units).
Metrics per population ``P``: ``P_rois``, ``P_photons``, ``P_noise_level`` (median measured
:math:`\nu`), ``P_dff_peak_mean``, ``P_active_fraction``. Figures: ``calcium_P`` (spike
raster over dF/F of the imaged ROIs, and example traces with their spikes).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.calcium import (
    CalciumTraces,
    SpikeEvents,
    SynthesisParams,
    check_frame_rate,
    frame_count,
    get_preset,
    synthesize,
)
from analysis.calcium_movie import RoiLayout, random_layout, synthesize_movie
from mapping.imaging import imaged_population
from models._checks import check_int, check_real
from models.rundir import RunDirectory, read_json_object, require_finished_run
from models.seeding import child_seed

__all__ = ["DEFAULT_PRESETS", "Config", "run", "summarize"]

#: population name -> (preset, partner population or "", imaging location (Allen CCF term))
DEFAULT_PRESETS: dict[str, tuple[str, str, str]] = {
    "GrC": ("granule_soma", "", "Cerebellar cortex"),
    "PC": ("purkinje_dendrite", "CF", "Cerebellar cortex"),
    "GoC": ("soma", "", "Cerebellar cortex"),
    "MLI": ("soma", "", "Cerebellar cortex"),
    "DCN": ("soma", "", "Cerebellar nuclei"),
    "HPC": ("place_cell", "", "Field CA1"),
    "MEC": ("soma", "", "Entorhinal area"),
    "MEC_hold": ("soma", "", "Entorhinal area"),
    "LEC": ("soma", "", "Entorhinal area"),
    "KC": ("granule_soma", "", "mushroom body (Drosophila)"),
    "MBON": ("soma", "", "mushroom body (Drosophila)"),
    "APL": ("soma", "", "mushroom body (Drosophila)"),
    "MF": ("none", "", ""),
    "CF": ("none", "", ""),
    "PN": ("none", "", ""),
    "DAN": ("none", "", ""),
}


@dataclass(frozen=True)
class Config:
    """Parameters of ``memcircuits calcium``."""

    run_dir: str = ""  # run directory of a circuit command (holds spikes.nwb)
    synthesis: SynthesisParams = field(default_factory=SynthesisParams)  # model, fps, nu
    movie: bool = False  # also render a TwoPhotonSeries movie per population
    populations: tuple[str, ...] = ()  # "NAME=preset" or "NAME=none" overrides
    max_rois: int = 500  # imaged neurons per population (random subset when larger)
    movie_rois: int = 100  # ROIs drawn in each movie
    movie_frames: int = 300  # frames of each movie (from the start)
    dt: float = 0.0  # simulation time step (s); 0: read from RUN_DIR/config.json
    tail: float = 1.0  # s after the last spike when the run's duration is unknown
    seed: int = 0

    def validate(self) -> None:
        """Raise ``ValueError`` (``FileNotFoundError`` for a missing run) naming the field."""
        self.synthesis.validate()
        if not self.run_dir:
            raise ValueError("run_dir: give the run directory of a circuit command "
                             "(memcircuits calcium RUN_DIR --out DIR)")
        require_finished_run(self.run_dir, what="run_dir")
        spikes = Path(self.run_dir) / "spikes.nwb"
        if not spikes.is_file():
            raise FileNotFoundError(f"run_dir: no spikes.nwb in {self.run_dir} (run a "
                                    f"circuit command such as memcircuits cerebellum first)")
        _overrides(self.populations)
        check_int("max_rois", self.max_rois, minimum=1)
        check_int("movie_rois", self.movie_rois, minimum=1)
        check_int("movie_frames", self.movie_frames, minimum=2)
        check_real("dt", self.dt, minimum=0.0)
        check_real("tail", self.tail, minimum=0.0)
        check_int("seed", self.seed, minimum=0)


#: fewest frames a synthetic recording may have (two frames give no trace and no noise level)
MIN_FRAMES = 10
#: measured noise level above this multiple of the target is reported (summary and metrics)
NOISE_TOLERANCE = 1.5


def input_directories(config: Config) -> list[Path]:
    """The run directory this command reads (its output must lie apart from it)."""
    return [Path(config.run_dir)]


def _overrides(entries: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for entry in entries:
        name, sep, preset = entry.partition("=")
        if not sep or not name:
            raise ValueError(f"populations: entries are NAME=preset, got {entry!r}")
        if preset != "none":
            get_preset(preset)
        out[name] = preset
    return out


_UNITS = {"s": 1.0, "second": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def _seconds(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([a-zµ]*)\s*", value)
        if match and match.group(2) in _UNITS:
            return float(match.group(1)) * _UNITS[match.group(2)]
    return None


def _find_dt(config: Any) -> float | None:
    """The first ``dt`` field (seconds) anywhere in a resolved ``config.json``."""
    if isinstance(config, dict):
        if "dt" in config and _seconds(config["dt"]):
            return _seconds(config["dt"])
        for value in config.values():
            found = _find_dt(value)
            if found:
                return found
    return None


def _run_info(run_dir: Path) -> tuple[float | None, float | None]:
    """``(dt, simulated_s)`` of a run directory, None where unknown."""
    dt = simulated = None
    if (run_dir / "config.json").is_file():
        dt = _find_dt(read_json_object(run_dir / "config.json", what="run_dir").get("config", {}))
    if (run_dir / "metrics.json").is_file():
        value = read_json_object(run_dir / "metrics.json", what="run_dir").get("simulated_s")
        simulated = float(value) if isinstance(value, int | float) else None
    return dt, simulated


def _layout(n: int, sigma_um: tuple[float, float], movie_frames: int | None,
            seed: int) -> RoiLayout:
    """ROI layout at 1 um per pixel, coarser when a movie needs it.

    Coarser when a movie needs a field of view smaller than its frame count (NWB's time-first
    orientation).
    """
    layout = random_layout(n, sigma_um, seed=seed)
    if movie_frames is not None and max(layout.shape) >= movie_frames:
        um = math.ceil(max(layout.shape) / (movie_frames - 1) * 100) / 100 + 0.01
        layout = random_layout(n, sigma_um, um_per_pixel=um, seed=seed)
    return layout


def run(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> dict[str, Any]:
    """Synthesise every imaged population of ``config.run_dir``; write NWB and figures."""
    from analysis.nwb import read_spikes
    from analysis.nwb_ophys import ImagedPopulation, write_calcium_nwb

    config.validate()
    source = Path(config.run_dir)
    dt_run, simulated = _run_info(source)
    dt = config.dt or dt_run
    params = config.synthesis
    fps = check_frame_rate(params.fps, dt)
    spikes = read_spikes(source / "spikes.nwb")
    last = max((float(np.max(t)) for _i, t, _n in spikes.values() if len(t)), default=0.0)
    duration = simulated if simulated and simulated > last else last + config.tail
    n_frames = frame_count(duration, fps)
    if n_frames < MIN_FRAMES:
        raise ValueError(f"fps: {fps:g} Hz gives {n_frames} frames over the "
                         f"{duration:.3g}-s run; synthetic imaging needs at least {MIN_FRAMES} "
                         f"(fps >= {MIN_FRAMES / duration:.3g} Hz), or a longer run")
    overrides = _overrides(config.populations)
    unknown = sorted(set(overrides) - set(spikes))
    if unknown:
        raise ValueError(f"populations: {unknown[0]!r} is not a population of the run; it "
                         f"has {', '.join(sorted(spikes))}")
    metrics: dict[str, Any] = {"indicator": params.indicator, "fps": fps,
                               "noise_level_target": params.noise_level,
                               "duration_s": duration, "frames": n_frames,
                               "dt_s": dt if dt else float("nan"), "source": str(source)}
    imaged: list[ImagedPopulation] = []
    examples: dict[str, tuple[CalciumTraces, SpikeEvents, np.ndarray]] = {}
    for name in sorted(spikes):
        preset_name, partner, location = DEFAULT_PRESETS.get(name, ("soma", "", "Brain"))
        preset_name = overrides.get(name, preset_name)
        if preset_name == "none":
            continue
        size = spikes[name][2]
        if size == 0:
            continue
        rng = np.random.default_rng(child_seed(config.seed, "rois", name))
        count = min(size, config.max_rois, n_frames)
        rows = np.sort(rng.choice(size, size=count, replace=False)) if count < size \
            else np.arange(size)
        events = imaged_population(name, spikes, preset_name, partner, rows)
        traces = synthesize(events, count, duration, params,
                            seed=child_seed(config.seed, "calcium", name), dt=dt,
                            keep_clean=True)
        preset = get_preset(preset_name)
        frames = min(config.movie_frames, n_frames) if config.movie else None
        layout = _layout(count, preset.roi_sigma_um, frames,
                         child_seed(config.seed, "layout", name))
        movie = None
        if config.movie:
            shown = np.arange(min(count, config.movie_rois))
            movie = synthesize_movie(traces, layout, rows=shown, frames=frames,
                                     neuropil_brightness=params.neuropil_brightness,
                                     seed=child_seed(config.seed, "movie", name))
            metrics[f"{name}_movie_shape"] = "x".join(map(str, movie.shape))
        imaged.append(ImagedPopulation(
            name=name, traces=traces, layout=layout, neuron_index=rows,
            location=location or "Brain", description=preset.description, movie=movie))
        peaks = traces.clean_dff.max(axis=1)
        metrics[f"{name}_preset"] = preset_name
        metrics[f"{name}_rois"] = count
        metrics[f"{name}_neurons"] = size
        metrics[f"{name}_photons"] = traces.photons
        metrics[f"{name}_noise_level"] = float(np.median(traces.noise_level))
        metrics[f"{name}_dff_peak_mean"] = float(peaks.mean())
        metrics[f"{name}_active_fraction"] = float((peaks > 0.05).mean())
        examples[name] = (traces, events, rows)
        traces.clean_dff = None  # not written; free it
    if not imaged:
        raise ValueError(f"run_dir: no imaged population among {', '.join(sorted(spikes))}")
    write_calcium_nwb(
        run_dir.file("calcium.nwb"), imaged, spikes,
        session_description=f"memcircuits calcium: synthetic {params.indicator} imaging at "
                            f"{fps:g} Hz of the run {source.name}",
        experiment_description=f"spikes from {source}; noise level nu {params.noise_level}; "
                               f"seed {config.seed}",
        spike_resolution=dt)
    metrics["populations_imaged"] = ",".join(p.name for p in imaged)
    off = [p.name for p in imaged
           if metrics[f"{p.name}_noise_level"] > NOISE_TOLERANCE * params.noise_level]
    metrics["noise_level_warning"] = (
        f"measured noise level above {NOISE_TOLERANCE:g}x the target in "
        f"{', '.join(off)}: the estimator (median |dF/F difference| x sqrt(fps)) includes "
        f"the transients when frames are few or cells fire often; raise fps or run longer"
        if off else "")
    _figures(run_dir, examples, params)
    return metrics


def _figures(run_dir: RunDirectory, examples, params: SynthesisParams) -> None:
    import matplotlib.pyplot as plt

    for name, (traces, events, rows) in examples.items():
        order = np.argsort(-traces.dff.max(axis=1))
        shown = order[:min(3, len(order))]
        fig, axes = plt.subplots(2 + len(shown), 1, figsize=(9, 2.2 * (2 + len(shown))),
                                 sharex=True, gridspec_kw={"height_ratios": [1, 2]
                                                           + [1] * len(shown)})
        t = traces.times
        axes[0].plot(events.times, events.indices, "|", ms=2, color="k")
        axes[0].set_ylim(len(rows) - 0.5, -0.5)  # ROI 0 on top, as in the image below
        axes[0].set_ylabel("ROI")
        axes[0].set_title(f"{name}: spikes of the {len(rows)} imaged neurons "
                          f"(complex spikes for dendrites)", fontsize=9)
        image = axes[1].imshow(traces.dff, aspect="auto", interpolation="nearest",
                               extent=(t[0] - 1 / traces.fps, t[-1], len(rows) - 0.5, -0.5),
                               cmap="viridis", vmin=0, vmax=np.percentile(traces.dff, 99.5))
        fig.colorbar(image, ax=axes[1], label="dF/F", pad=0.01)
        axes[1].set_ylabel("ROI")
        for ax, roi in zip(axes[2:], shown, strict=True):
            ax.plot(t, traces.dff[roi], lw=0.7, label="dF/F")
            mine = events.times[events.indices == roi]
            ax.plot(mine, np.full(mine.shape, traces.dff[roi].max() * 1.05), "|",
                    color="tab:red", label="spikes")
            ax.set_ylabel(f"ROI {roi}")
        axes[2].legend(fontsize=7, loc="upper right")
        axes[-1].set_xlabel("time (s)")
        fig.suptitle(f"{params.indicator}, {traces.fps:g} Hz, noise level "
                     f"{np.median(traces.noise_level):.2f} (target {params.noise_level})",
                     fontsize=10)
        fig.tight_layout()
        run_dir.save_figure(fig, f"calcium_{name}")


def summarize(metrics: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = [f"synthetic {metrics['indicator']} imaging at {metrics['fps']:g} Hz, "
             f"{metrics['duration_s']:.2f} s ({metrics['frames']} frames), target noise "
             f"level {metrics['noise_level_target']}"]
    for name in str(metrics["populations_imaged"]).split(","):
        lines.append(f"  {name:8s} {metrics[f'{name}_preset']:18s} "
                     f"{metrics[f'{name}_rois']:5d} ROIs, nu {metrics[f'{name}_noise_level']:.2f}, "
                     f"{metrics[f'{name}_photons']:.0f} photons/frame, mean peak dF/F "
                     f"{metrics[f'{name}_dff_peak_mean']:.3f}")
    if metrics.get("noise_level_warning"):
        lines.append(f"  warning: {metrics['noise_level_warning']}")
    return "\n".join(lines)

