"""Analysis of model and circuit output: figures, spatial metrics, synthetic calcium imaging.

Never imports Brian2 or ``circuits``.

Modules (imported on use, so ``import analysis`` stays light):

- :mod:`analysis.calcium`: calcium forward models (AR, spike-to-fluorescence), indicator and
  population presets, noise-level calibration, frame sampling, OASIS round trip;
- :mod:`analysis.calcium_movie`: ROI footprints in a field of view, two-photon movies;
- :mod:`analysis.nwb`: spikes in NWB ``Units``; :mod:`analysis.nwb_ophys`: imaging data in
  NWB (ImagingPlane, PlaneSegmentation, Fluorescence, DfOverF, TwoPhotonSeries);
- :mod:`analysis.spatial`: rate maps, gridness, spatial information, remapping;
- :mod:`analysis.plots`: shared plots.
"""

__all__ = ["calcium", "calcium_movie", "nwb", "nwb_ophys", "plots", "spatial"]
