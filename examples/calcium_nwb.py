"""Synthetic calcium imaging of a cerebellar run, saved to NWB
==============================================================

What would a two-photon microscope have recorded while the spiking cerebellum learned?
This example runs a small cerebellar write/read (``circuits.cerebellum.CerebellarSDM``),
turns the spikes of the granule cells (somata) and Purkinje cells (dendrites, driven by
climbing-fibre complex spikes) into dF/F traces with indicator kinetics, neuropil, drift
and shot noise (``analysis.calcium.synthesize``), writes them with the true spikes to one
NWB file (``analysis.nwb_ophys.write_calcium_nwb``), and reads the file back with pynwb.

Run: ``python examples/calcium_nwb.py [--quick] [--out PATH]`` (the NWB file is written
next to the figure, with suffix ``.nwb``).
"""

# %%
# Options and a small cerebellar run
# ----------------------------------
import argparse
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from analysis.calcium import SpikeEvents, SynthesisParams, get_preset, synthesize
from analysis.calcium_movie import random_layout
from analysis.nwb_ophys import ImagedPopulation, write_calcium_nwb
from circuits.cerebellum import CerebellarSDM, CerebellumParams
from models.patterns import random_binary

parser = argparse.ArgumentParser(
    description="Synthetic calcium imaging of a cerebellar run, saved to NWB")
parser.add_argument("--quick", action="store_true", help="a smaller, shorter run")
parser.add_argument("--out", default="./calcium_nwb.png", help="figure path")
args, _ = parser.parse_known_args()
out = Path(args.out)
out.parent.mkdir(parents=True, exist_ok=True)
nwb_path = out.with_suffix(".nwb")

m = 4 if args.quick else 12  # patterns written, then read back
params = CerebellumParams()
params = replace(params, value_bits=8 if args.quick else 16,
                 granule=replace(params.granule, n=300 if args.quick else 2000,
                                 coding_level=0.05))
keys = random_binary(m, params.address_bits, seed=0).numpy()
values = random_binary(m, params.value_bits, seed=1).numpy()
circuit = CerebellarSDM(params, seed=2, report=None)
readouts = [circuit.write(keys, values), circuit.read(keys)]
duration = sum(r.slot * len(r.onsets) for r in readouts)  # simulated seconds
sizes = circuit.population_sizes()
names = params.population_names


def spikes_of(population: str) -> tuple[np.ndarray, np.ndarray]:
    """All spikes of one population over the run: (indices, times in s)."""
    return (np.concatenate([r.spikes[population].indices for r in readouts]),
            np.concatenate([r.spikes[population].times for r in readouts]))


print(f"simulated {duration:.2f} s: {m} writes, {m} reads, {sizes['granule']} granule cells")

# %%
# Spikes -> calcium
# -----------------
# Each imaged population has a preset: granule somata count one AP per spike; Purkinje
# dendrites see only the climbing fibre's complex spikes (4 AP-equivalents each, simple
# spikes add nothing). Frames at 60 Hz; the baseline window is shortened to suit a
# recording of a few seconds.
synthesis = SynthesisParams(indicator="GCaMP6f", fps=60.0, noise_level=1.0,
                            baseline_window=1.0, baseline_bin=0.1)
dt = float(params.protocol.dt)
# image the 40 granule cells that spiked most (a sparse code: most cells stay silent)
grc_counts = np.bincount(spikes_of("granule")[0], minlength=sizes["granule"])
imaged = {
    # population -> (preset, partner population whose spikes add calcium, imaged rows)
    "granule": ("granule_soma", None, np.sort(np.argsort(-grc_counts, kind="stable")[:40])),
    "purkinje": ("purkinje_dendrite", "climbing", np.arange(sizes["purkinje"])),
}
populations, truth = [], {}
for key, (preset_name, partner, rows) in imaged.items():
    preset = get_preset(preset_name)
    position = np.full(sizes[key], -1)
    position[rows] = np.arange(len(rows))  # population index -> ROI number
    parts = []
    for source, weight in ((key, preset.spike_weight), (partner, preset.partner_weight)):
        if source is None or weight == 0:
            continue
        i, t = spikes_of(source)
        keep = position[i] >= 0
        parts.append(SpikeEvents.of(position[i[keep]], t[keep], weight))
    events = SpikeEvents.concat(parts)
    traces = synthesize(events, len(rows), duration, synthesis, seed=4, dt=dt)
    layout = random_layout(len(rows), preset.roi_sigma_um, seed=5)
    populations.append(ImagedPopulation(
        name=names[key], traces=traces, layout=layout, neuron_index=rows,
        location="cerebellar cortex", description=preset.description))
    truth[names[key]] = events
for key in ("granule", "purkinje", "climbing"):
    i, t = spikes_of(key)
    truth_spikes = truth.setdefault("_all", {})
    truth_spikes[names[key]] = (i, t, sizes[key])

# %%
# Write NWB, read it back with pynwb
# ----------------------------------
# The file holds, per population, the imaging plane, ROI footprints, raw fluorescence,
# neuropil and dF/F, and every population's true spikes in the Units table.
write_calcium_nwb(nwb_path, populations, truth["_all"],
                  session_description="memcircuits example: synthetic calcium imaging "
                                      "of a cerebellar write/read",
                  spike_resolution=dt)
from pynwb import NWBHDF5IO  # noqa: E402

with NWBHDF5IO(str(nwb_path), "r") as io:
    nwbfile = io.read()
    dff_series = nwbfile.processing["ophys"]["DfOverF"].roi_response_series
    back = {name: (np.asarray(s.data[:]).T, float(s.rate)) for name, s in dff_series.items()}
    units = nwbfile.units.to_dataframe()
print(f"wrote {nwb_path} ({nwb_path.stat().st_size / 1e3:.0f} kB); read back: "
      + ", ".join(f"{k} dF/F {v[0].shape}" for k, v in back.items())
      + f"; {len(units)} units with spikes")
for pop in populations:
    same = np.allclose(back[pop.name][0], pop.traces.dff)
    print(f"  {pop.name}: traces read back equal to those written: {same}")

# %%
# Figure
# ------
# For each imaged population: dF/F of the ROIs (as read from the NWB file) with the
# spikes that drove them, and the onsets of the write and read presentations. A single
# granule-cell spike (one AP of GCaMP6f) is barely above the noise at 60 Hz; the
# climbing fibre's complex spikes give clear dendritic transients in the Purkinje cells.
fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
for ax, pop in zip(axes, populations, strict=True):
    dff, rate = back[pop.name]
    t = (np.arange(dff.shape[1]) + 1) / rate
    ev = truth[pop.name]
    drive = np.bincount(ev.indices, weights=ev.weight_array(), minlength=dff.shape[0])
    order = np.argsort(-drive, kind="stable")[:6]  # the six ROIs with the most spikes
    step = 1.2 * float(np.abs(dff[order]).max())
    for k, roi in enumerate(order):
        ax.plot(t, dff[roi] + step * k, lw=0.8)
        sel = ev.indices == roi
        ax.plot(ev.times[sel], np.full(sel.sum(), step * (k - 0.2)), "|k", ms=5)
    for r in readouts:
        for onset in r.onsets:
            ax.axvline(onset, color="0.85" if r.kind == "read" else "tab:green", lw=0.6,
                       zorder=0)
    ax.set(ylabel="dF/F (offset per ROI)",
           title=f"{pop.name} ({pop.description}): the 6 most driven of {dff.shape[0]} ROIs; "
                 f"ticks = driving spikes")
    ax.title.set_fontsize(9)
axes[-1].set_xlabel("time (s): green lines = write onsets, grey = read onsets")
fig.tight_layout()
fig.savefig(out, dpi=100)
print(f"figure: {out}")
