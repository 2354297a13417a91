"""Synthetic calcium imaging in NWB: imaging planes, ROIs, traces, movie, true spikes.

:func:`write_calcium_nwb` writes, per imaged population ``P``:

- ``Device`` ``Microscope`` and an ``ImagingPlane`` ``ImagingPlane_P`` (indicator, frame
  rate, location, an ``OpticalChannel``);
- in the ``ophys`` processing module: ``ImageSegmentation`` with ``PlaneSegmentation_P``
  (one pixel mask per ROI, plus the column ``population_index``: which neuron of ``P`` the
  ROI images), and one ``RoiResponseSeries`` named ``P`` in each of the containers
  ``Fluorescence`` (raw ROI photons per frame), ``Neuropil`` (neuropil photons per ROI
  area) and ``DfOverF`` (the neuropil-corrected dF/F) -- the container names suite2p's
  NWB reader expects;
- optionally a ``TwoPhotonSeries`` ``TwoPhotonSeries_P`` in acquisition (the movie);
- the ground-truth spikes of *every* population of the simulation in ``Units``
  (:func:`analysis.nwb.add_spike_units`, read back with :func:`analysis.nwb.read_spikes`).

Series sample frame ``j`` at ``starting_time + j / rate`` with ``starting_time = 1/fps``:
frame ``j`` is read at the end of its exposure (see :mod:`analysis.calcium`). Files are
written atomically. :func:`read_calcium_nwb` gives the traces back.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.calcium import CalciumTraces
from analysis.calcium_movie import RoiLayout, pixel_masks
from analysis.nwb import add_spike_units, new_nwbfile, write_nwbfile

__all__ = ["ImagedPopulation", "read_calcium_nwb", "write_calcium_nwb"]

#: GCaMP emission peak (nm) and two-photon excitation (nm) written to the imaging planes
EMISSION_NM = 510.0
EXCITATION_NM = 920.0


@dataclass
class ImagedPopulation:
    """One imaged population: its traces, ROI footprints and (optionally) a movie."""

    name: str  # population name (as in the spike file)
    traces: CalciumTraces
    layout: RoiLayout
    neuron_index: np.ndarray  # (N,) index within the population of each ROI
    location: str  # brain area / layer, e.g. "cerebellar cortex, granular layer"
    description: str  # what the ROIs are (preset)
    movie: np.ndarray | None = None  # (T, H, W) uint16 photon counts


def write_calcium_nwb(path: str | Path, imaged: Sequence[ImagedPopulation],
                      spikes: Mapping[str, tuple[Any, Any, int]], *,
                      session_description: str, identifier: str | None = None,
                      session_start_time: _dt.datetime | None = None,
                      experiment_description: str | None = None,
                      notes: str | None = None,
                      spike_resolution: float | None = None) -> Path:
    """Write synthetic imaging data and the true spikes to one NWB file.

    Parameters
    ----------
    path
        Target ``.nwb`` file (replaced atomically).
    imaged
        The imaged populations (names must be unique).
    spikes
        Ground truth: population name -> ``(indices, times_s, size)`` as simulated.
    session_description
        Required NWB session description.
    spike_resolution
        Time resolution of the spike times (the simulation's ``dt``, s).

    Returns
    -------
    Path
        ``path``.
    """
    from pynwb.file import Subject
    from pynwb.ophys import (
        DfOverF,
        Fluorescence,
        ImageSegmentation,
        OpticalChannel,
        RoiResponseSeries,
        TwoPhotonSeries,
    )

    names = [p.name for p in imaged]
    if len(set(names)) != len(names):
        raise ValueError(f"imaged: population names must be unique, got {names}")
    nwbfile = new_nwbfile(
        session_description=session_description, identifier=identifier,
        session_start_time=session_start_time,
        experiment_description=experiment_description, notes=notes,
        keywords=["synthetic calcium imaging", "simulation", "memcircuits"],
        subject=Subject(subject_id="simulated", species="Mus musculus", sex="U",
                        age="P90D", description="no animal: a simulated circuit "
                                                "(memcircuits); species and age nominal"),
    )
    device = nwbfile.create_device(name="Microscope",
                                   description="simulated two-photon microscope (memcircuits)")
    ophys = nwbfile.create_processing_module(
        name="ophys", description="synthetic calcium imaging from simulated spikes")
    segmentation = ImageSegmentation(name="ImageSegmentation")
    fluorescence = Fluorescence(name="Fluorescence")
    neuropil = Fluorescence(name="Neuropil")
    dff = DfOverF(name="DfOverF")
    for container in (segmentation, fluorescence, neuropil, dff):
        ophys.add(container)  # before the ROI regions are made (they link into it)
    for pop in imaged:
        tr = pop.traces
        channel = OpticalChannel(name="Green", description=f"{tr.indicator} emission",
                                 emission_lambda=EMISSION_NM)
        plane = nwbfile.create_imaging_plane(
            name=f"ImagingPlane_{pop.name}", optical_channel=channel,
            description=f"{pop.description}: {tr.n_frames} frames at {tr.fps:g} Hz",
            device=device, excitation_lambda=EXCITATION_NM, indicator=tr.indicator,
            location=pop.location, imaging_rate=float(tr.fps),
            grid_spacing=[pop.layout.um_per_pixel * 1e-6] * 2, grid_spacing_unit="meters")
        seg = segmentation.create_plane_segmentation(
            name=f"PlaneSegmentation_{pop.name}",
            description=f"{pop.description} (Gaussian footprints, one ROI per neuron)",
            imaging_plane=plane)
        seg.add_column(name="population_index",
                       description=f"index of the imaged neuron within population {pop.name}")
        masks = pixel_masks(pop.layout)
        index = np.asarray(pop.neuron_index, dtype=np.int64)
        if len(index) != tr.dff.shape[0] or len(masks) < len(index):
            raise ValueError(f"imaged[{pop.name!r}]: {tr.dff.shape[0]} traces, "
                             f"{len(index)} neuron indices and {len(masks)} ROIs disagree")
        for k, neuron in enumerate(index):
            seg.add_roi(pixel_mask=[tuple(row) for row in masks[k].tolist()],
                        population_index=int(neuron))
        region = seg.create_roi_table_region(region=list(range(len(index))),
                                             description=f"ROIs of {pop.name}")
        start = 1.0 / tr.fps
        # data: (frames, ROIs), time first
        fluorescence.add_roi_response_series(RoiResponseSeries(
            name=pop.name, data=np.ascontiguousarray(tr.fluorescence.T), rois=region,
            unit="photons", rate=float(tr.fps), starting_time=start,
            description="raw ROI fluorescence (photons per frame, neuropil included)"))
        neuropil.add_roi_response_series(RoiResponseSeries(
            name=pop.name, data=np.ascontiguousarray(tr.neuropil.T), rois=region,
            unit="photons", rate=float(tr.fps), starting_time=start,
            description="neuropil fluorescence per ROI area (photons per frame)"))
        dff.add_roi_response_series(RoiResponseSeries(
            name=pop.name, data=np.ascontiguousarray(tr.dff.T), rois=region,
            unit="n.a.", rate=float(tr.fps), starting_time=start,
            description="dF/F: (F - r F_neuropil - F0) / F0, maximin baseline F0 "
                        f"(noise level nu {np.median(tr.noise_level):.2f})"))
        if pop.movie is not None:
            movie = np.asarray(pop.movie)
            H, W = pop.layout.shape
            nwbfile.add_acquisition(TwoPhotonSeries(
                name=f"TwoPhotonSeries_{pop.name}", imaging_plane=plane,
                data=movie, unit="photons", rate=float(tr.fps), starting_time=start,
                field_of_view=[H * pop.layout.um_per_pixel * 1e-6,
                               W * pop.layout.um_per_pixel * 1e-6],
                dimension=[H, W],
                description=f"synthetic movie of {pop.name}: first {movie.shape[0]} frames"))
    add_spike_units(nwbfile, spikes, resolution=spike_resolution)
    return write_nwbfile(path, nwbfile)


def read_calcium_nwb(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read back the calcium imaging that :func:`write_calcium_nwb` wrote, per population.

    Population -> ``{"dff", "fluorescence", "neuropil"}`` ``(N, T)`` arrays, ``"population_index"``
    ``(N,)``, ``"rate"`` and ``"starting_time"`` (spikes: :func:`analysis.nwb.read_spikes`).
    """
    from pynwb import NWBHDF5IO

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NWB file not found: {path}")
    out: dict[str, dict[str, Any]] = {}
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        ophys = nwbfile.processing["ophys"]
        seg = ophys["ImageSegmentation"]
        for name, series in ophys["DfOverF"].roi_response_series.items():
            plane = seg.plane_segmentations[f"PlaneSegmentation_{name}"]
            out[name] = {
                "dff": np.asarray(series.data[:]).T,
                "fluorescence": np.asarray(
                    ophys["Fluorescence"].roi_response_series[name].data[:]).T,
                "neuropil": np.asarray(ophys["Neuropil"].roi_response_series[name].data[:]).T,
                "population_index": np.asarray(plane["population_index"][:]),
                "rate": float(series.rate),
                "starting_time": float(series.starting_time),
            }
    return out
