r"""Synthetic calcium imaging: spikes -> fluorescence, dF/F and noise at a chosen frame rate.

Two forward models, both vectorised over the whole population (one ``lfilter`` call per
block of neurons; no Python loop over neurons or spikes):

**AR model** (what OASIS and CaImAn invert; :func:`ar_calcium`, :func:`ar_traces`):

.. math:: c_t = g_1 c_{t-1} + g_2 c_{t-2} + s_t, \qquad y_t = b + a\, c_t + \sigma \epsilon_t,

with :math:`s_t` the number of spikes in frame :math:`t` and, for AR(1),
:math:`g = e^{-1/(f_s \tau_d)}` (AR(2): :math:`g_1 = d + r`, :math:`g_2 = -d r` with
:math:`d = e^{-1/(f_s\tau_d)}`, :math:`r = e^{-1/(f_s\tau_r)}`).

**Spike-to-fluorescence model** (:func:`synthesize`): free calcium above rest is a sum of
rise/decay kernels, the indicator's fluorescence a Hill function of calcium (NAOMi-style
steady-state binding, Song et al. 2021),

.. math::
    [\mathrm{Ca}](t) &= \mathrm{Ca}_0 + \Delta \sum_k w_k\, h(t - t_k), \qquad
    h(t) = \frac{e^{-t/\tau_d} - e^{-t/\tau_r}}{\max_t(\cdot)} \;(t \ge 0), \\
    \frac{\Delta F}{F}(t) &= \frac{R_f\,\bigl(H([\mathrm{Ca}](t)) - H(\mathrm{Ca}_0)\bigr)}
        {1 + R_f\, H(\mathrm{Ca}_0)}, \qquad H(x) = \frac{x^{n}}{x^{n} + K_d^{n}},

(:math:`R_f = F_{max}/F_{min} - 1`, :math:`w_k` the spike's weight in AP-equivalents).
:math:`\tau_r, \tau_d, \Delta` are fitted per indicator (:func:`fit_kernel`) so that one
action potential gives the cited peak dF/F, time to peak and half-decay time
(:data:`INDICATORS`). The recorded ROI adds neuropil, drift and photon shot noise:

.. math::
    \lambda_{\mathrm{roi}}(t) &= m_i(t)\,\bigl[F_i\,(1 + \Delta F/F_i(t))
        + r\, F_{np}\,(1 + \Delta F/F_{np}(t))\bigr], \qquad
    F_{\mathrm{roi}} \sim \mathrm{Poisson}(\lambda_{\mathrm{roi}}), \\
    F_{\mathrm{corr}} &= F_{\mathrm{roi}} - r\, F_{\mathrm{neuropil}}, \qquad
    \frac{\Delta F}{F}_{\mathrm{obs}} = \frac{F_{\mathrm{corr}} - F_0(t)}{F_0(t)},

(exact Poisson draws below ``gaussian_above`` photons per frame, the normal approximation
:math:`\lambda + \sqrt{\lambda} z` above), with :math:`F_i` the photon budget per frame,
:math:`r` the neuropil coefficient (~0.7),
the neuropil dF/F the indicator's response to the population-mean calcium, :math:`m_i(t)`
a slow multiplicative drift (shared slow process, per-ROI gain, plus a linear trend), the
neuropil annulus measured with ``neuropil_pixels`` times the ROI's photons, and
:math:`F_0(t)` the suite2p "maximin" baseline (min then max filter of 1-s bin means over
``baseline_window``, constant within a bin). The photon budget is chosen so that the dF/F
traces have the requested **noise level** (CASCADE, Rupprecht et al. 2021):

.. math:: \nu = \frac{\mathrm{median}_t\, |\Delta F/F_{t+1} - \Delta F/F_t|}{\sqrt{f_s}}
          \times 100 .

**Frames.** Frame :math:`j` covers :math:`[j/f_s, (j+1)/f_s)` and is read at its end,
:math:`t_j = (j+1)/f_s`; a spike at time :math:`t` falls in frame
:math:`\lfloor t f_s \rfloor` and is seen in that frame with its exact sub-frame delay
(the exponentials are integrated exactly between frames). A frame rate above the
simulation's time resolution (``fps > 1/dt``) is refused.

**Empty input.** No spikes gives flat traces plus noise (the documented empty result);
zero neurons give ``(0, T)`` arrays.

**Modules.** This module re-exports the public names of its parts:
:mod:`analysis.calcium_indicators` (indicator presets, Hill fluorescence, kernel fits),
:mod:`analysis.calcium_frames` (frames, spike events, binning),
:mod:`analysis.calcium_ar` (AR model, noise level), :mod:`analysis.calcium_presets`
(population presets), :mod:`analysis.calcium_synthesis` (the spike-to-fluorescence model)
and :mod:`analysis.calcium_deconvolution` (correlation, OASIS).
"""

from __future__ import annotations

from analysis.calcium_ar import (
    ARTraces,
    ar_calcium,
    ar_coefficients,
    ar_traces,
    noise_level,
)
from analysis.calcium_deconvolution import (
    deconvolve_oasis,
    smoothed_correlation,
)
from analysis.calcium_frames import (
    SpikeEvents,
    bin_spikes,
    check_frame_rate,
    frame_count,
    frame_indices,
    frame_times,
)
from analysis.calcium_indicators import (
    INDICATORS,
    Indicator,
    KernelFit,
    fit_kernel,
    get_indicator,
    hill_dff,
)
from analysis.calcium_presets import (
    POPULATION_PRESETS,
    PopulationPreset,
    get_preset,
)
from analysis.calcium_synthesis import (
    CalciumTraces,
    SynthesisParams,
    clean_dff,
    measure_transient,
    one_ap_response,
    synthesize,
)

__all__ = [
    "INDICATORS",
    "POPULATION_PRESETS",
    "ARTraces",
    "CalciumTraces",
    "Indicator",
    "KernelFit",
    "PopulationPreset",
    "SpikeEvents",
    "SynthesisParams",
    "ar_calcium",
    "ar_coefficients",
    "ar_traces",
    "bin_spikes",
    "check_frame_rate",
    "clean_dff",
    "deconvolve_oasis",
    "fit_kernel",
    "frame_count",
    "frame_indices",
    "frame_times",
    "get_indicator",
    "get_preset",
    "hill_dff",
    "measure_transient",
    "noise_level",
    "one_ap_response",
    "smoothed_correlation",
    "synthesize",
]

