r"""ROIs in a field of view and an optional two-photon movie of them.

:func:`random_layout` places one Gaussian footprint per neuron on a jittered grid (sizes
from the population preset, in micrometres); :func:`pixel_masks` gives the NWB pixel masks
of :class:`~pynwb.ophys.PlaneSegmentation`; :func:`synthesize_movie` renders photon counts
per pixel and frame:

.. math::
    \lambda(x, t) = b(x) + \sum_i F_i\,\bigl(1 + \Delta F/F_i(t)\bigr)\, a_i(x)
                  + n(x)\, F_{np}\,\bigl(1 + \Delta F/F_{np}(t)\bigr) / A,
    \qquad I(x, t) \sim \mathrm{Poisson}(\lambda(x, t)),

with :math:`a_i` the footprint of ROI :math:`i` normalised to sum 1 (so the ROI holds the
photons of :func:`analysis.calcium.synthesize`), :math:`b` a smooth background, :math:`n` a
smooth neuropil field of mean 1 and :math:`A` the mean footprint area. The movie has no
drift and no motion; its frames are read like the traces, at :math:`(j + 1)/f_s`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from analysis.calcium import CalciumTraces
from models._checks import check_int, check_real
from models.seeding import child_seed

__all__ = ["RoiLayout", "pixel_masks", "random_layout", "synthesize_movie"]


@dataclass(frozen=True)
class RoiLayout:
    """Gaussian footprints in a field of view (pixels; ``(y, x)`` order)."""

    centres: np.ndarray  # (N, 2) centre of each ROI (pixels)
    sigmas: np.ndarray  # (N, 2) footprint sd along y and x (pixels)
    shape: tuple[int, int]  # (height, width) of the field of view (pixels)
    um_per_pixel: float  # pixel size (micrometres)

    @property
    def n_rois(self) -> int:
        """Number of ROIs."""
        return int(self.centres.shape[0])


def random_layout(n: int, sigma_um: tuple[float, float] = (3.0, 3.0), *,
                  um_per_pixel: float = 1.0, spacing: float = 4.0,
                  seed: int | None = 0) -> RoiLayout:
    """``n`` footprints on a jittered square grid, ``spacing`` footprint sds apart.

    ``sigma_um`` is the sd along (x, y) in micrometres (a Purkinje dendrite is a narrow,
    long band). The field of view is the smallest square holding the grid.
    """
    n = check_int("n", n, minimum=0)
    um = check_real("um_per_pixel", um_per_pixel, minimum=0.0, strict_minimum=True)
    sx, sy = (max(check_real("sigma_um", s, minimum=0.0, strict_minimum=True) / um, 0.5)
              for s in sigma_um)
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    step_x, step_y = spacing * sx, spacing * sy
    rng = np.random.default_rng(child_seed(seed, "layout"))
    k = np.arange(n)
    centres = np.stack([(k // cols + 0.5) * step_y, (k % cols + 0.5) * step_x], axis=1)
    centres += rng.uniform(-0.15, 0.15, (n, 2)) * [step_y, step_x]
    shape = (max(8, math.ceil(rows * step_y)), max(8, math.ceil(cols * step_x)))
    return RoiLayout(centres=centres, sigmas=np.tile([sy, sx], (n, 1)), shape=shape,
                     um_per_pixel=um)


def _footprint(layout: RoiLayout, i: int, truncate: float) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray]:
    cy, cx = layout.centres[i]
    sy, sx = layout.sigmas[i]
    y0, y1 = max(0, int(cy - truncate * sy)), min(layout.shape[0], int(cy + truncate * sy) + 1)
    x0, x1 = max(0, int(cx - truncate * sx)), min(layout.shape[1], int(cx + truncate * sx) + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    w = np.exp(-0.5 * (((yy + 0.5 - cy) / sy) ** 2 + ((xx + 0.5 - cx) / sx) ** 2))
    return yy.ravel(), xx.ravel(), w.ravel()


def pixel_masks(layout: RoiLayout, *, truncate: float = 2.0) -> list[np.ndarray]:
    """NWB pixel masks: one ``(k, 3)`` array of ``(x, y, weight)`` per ROI (peak weight 1)."""
    masks = []
    for i in range(layout.n_rois):
        y, x, w = _footprint(layout, i, truncate)
        masks.append(np.stack([x, y, w], axis=1))
    return masks


def synthesize_movie(traces: CalciumTraces, layout: RoiLayout, *, rows: np.ndarray | None = None,
                     frames: int | None = None, background: float = 0.2,
                     neuropil_brightness: float = 0.5, seed: int | None = 0) -> np.ndarray:
    """Photon-count movie ``(frames, height, width)`` (uint16) of the ROIs ``rows``.

    Parameters
    ----------
    traces
        Synthesised traces with ``clean_dff`` kept (``synthesize(..., keep_clean=True)``).
    layout
        Footprints of (at least) the ROIs in ``rows``.
    rows
        ROIs drawn (default all); others are left out of the movie.
    frames
        First frames rendered (default all).
    background
        Background photons per pixel and frame, relative to the neuropil's.
    neuropil_brightness
        Neuropil photons per ROI area relative to a ROI at rest (as in the traces).
    seed
        Seeds the background/neuropil fields and the per-pixel shot noise.
    """
    if traces.clean_dff is None:
        raise ValueError("traces: synthesize the traces with keep_clean=True to render a movie")
    rows = np.arange(layout.n_rois) if rows is None else np.asarray(rows, dtype=np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= min(layout.n_rois,
                                                           traces.clean_dff.shape[0])):
        raise ValueError("rows: ROI index outside the layout or the traces")
    T = traces.n_frames if frames is None else min(check_int("frames", frames, minimum=1),
                                                    traces.n_frames)
    H, W = layout.shape
    rng = np.random.default_rng(child_seed(seed, "movie"))
    # footprints normalised to sum 1: (n_rows, H*W)
    fp = np.zeros((rows.size, H * W), np.float32)
    areas = []
    for k, i in enumerate(rows):
        y, x, w = _footprint(layout, int(i), truncate=3.0)
        fp[k, y * W + x] = w / w.sum()
        areas.append(2 * math.pi * layout.sigmas[i, 0] * layout.sigmas[i, 1])
    area = float(np.mean(areas)) if areas else 1.0
    cell = (traces.photons * traces.brightness[rows][None, :]
            * (1.0 + traces.clean_dff[rows, :T].T)).astype(np.float32)  # (T, n_rows)
    lam = cell @ fp  # (T, H*W)
    field = gaussian_filter(rng.standard_normal((H, W)), sigma=max(H, W) / 8, mode="wrap")
    field = 1.0 + 0.3 * field / (field.std() or 1.0)
    np_rate = traces.photons * neuropil_brightness / area
    np_dff = traces.neuropil_dff[:T] if traces.neuropil_dff is not None else np.zeros(T)
    lam += (np_rate * (1.0 + np_dff))[:, None].astype(np.float32) * np.clip(
        field, 0.1, None).ravel()[None, :].astype(np.float32)
    lam += np.float32(background * np_rate)
    movie = rng.poisson(np.maximum(lam, 0.0))
    return np.clip(movie, 0, np.iinfo(np.uint16).max).astype(np.uint16).reshape(T, H, W)
