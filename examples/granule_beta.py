"""The granule layer's effective softmax beta
============================================

In a sparse distributed memory a read weights each stored memory by the number of hard
locations active for both the query and the memory's key: the intersection
``I(n, d, d_v)`` of two Hamming balls of radius ``d`` whose centres are ``d_v`` bits apart.
Bricken & Pehlevan (2021) showed that the normalised intersection is close to
``softmax(beta cos)``, with ``cos = 1 - 2 d_v / n`` and a ``beta`` set by the radius: a
sparser granule code (smaller radius, lower coding level) is a sharper attention.

Part 1 computes this with the exact formula (``models.intersection``) for three radii.
Part 2 measures it in spikes: patterns at every distance from a base key are presented to
the spiking granular layer (mossy fibres, granule and Golgi cells;
``circuits.cerebellum.granule_active_sets``), the granule cells shared by each pair are
counted, and the effective beta is fitted from those counts
(``mapping.measures.effective_beta``).

Run: ``python examples/granule_beta.py [--quick] [--out PATH]``
"""

# %%
# Options
# -------
import argparse
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from brian2 import ms

from circuits.cerebellum import CerebellumParams, granule_active_sets
from circuits.cerebellum.params import derive
from mapping.measures import effective_beta
from models.intersection import activation_probability, binary_intersection, fit_beta
from models.patterns import flip_exact, random_binary

parser = argparse.ArgumentParser(description="The granule layer's effective softmax beta")
parser.add_argument("--quick", action="store_true", help="fewer granule cells and patterns")
parser.add_argument("--out", default="./granule_beta.png", help="figure path")
args, _ = parser.parse_known_args()

n = 64  # mossy-fibre address bits

# %%
# Part 1: exact intersection vs softmax, per radius
# --------------------------------------------------
# ``fit_beta`` is the least-squares slope of log I on cos over d_v = 0..d-1. Both curves
# are normalised over d_v = 0..2d (where the weight lives).
radii = (5, 11, 15)
exact_curves = {}
for d in radii:
    dv = np.arange(0, 2 * d + 1)
    inter = binary_intersection(n, d, dv).astype(float)
    beta = fit_beta(n, d)
    soft = np.exp(beta * (1 - 2 * dv / n))
    exact_curves[d] = (dv, inter / inter.sum(), soft / soft.sum(), beta)
    print(f"radius {d:2d}: coding level {activation_probability(n, d):.2e}, beta {beta:.2f}")

# %%
# Part 2: the same weights measured in spikes
# --------------------------------------------
# A small granular layer (Kanerva design: each granule cell reads all 2n mossy rails and
# fires for keys within its radius; Golgi cells hold the coding level). ``coding_level``
# sets the radius; ``derive`` reports it.
cells = 2000 if args.quick else 8000
params = CerebellumParams()
params = replace(params, granule=replace(params.granule, n=cells, coding_level=0.03),
                 # short presentations: the first mossy volley sets the code
                 mossy=replace(params.mossy, stimulus=10 * ms),
                 protocol=replace(params.protocol, read_slot=90 * ms, decode_window=80 * ms))
radius = derive(params).radius
theory = fit_beta(n, radius)
max_dv = 2 * radius
bases = 1 if args.quick else 4  # independent base keys
step = 2 if args.quick else 1  # distances measured: 0, step, 2 step, ... 2d
distances = np.arange(0, max_dv + 1, step)
keys = random_binary(bases, n, seed=0)
patterns = torch.stack([flip_exact(keys[b:b + 1], int(dv), seed=1000 * b + int(dv))[0]
                        for b in range(bases) for dv in distances]).numpy()
print(f"{cells} granule cells, radius {radius}: presenting {len(patterns)} patterns ...")
active = granule_active_sets(params, patterns, seed=1)  # list of active-cell index arrays

# shared granule cells between each variant and its base (distance 0 variant)
shared = np.full((bases, max_dv + 1), np.nan)  # NaN: distance not measured
for b in range(bases):
    base = active[b * len(distances)]  # the distance-0 variant is the key itself
    for k, dv in enumerate(distances):
        shared[b, dv] = len(np.intersect1d(active[b * len(distances) + k], base))
mean_shared = shared.mean(0)
coding = np.mean([len(a) for a in active]) / cells
fit = effective_beta(mean_shared, n, distances[distances < radius])
print(f"measured coding level {coding:.4f}; effective beta {fit.beta:.2f} vs theoretical "
      f"{theory:.2f} (ratio {fit.beta / theory:.2f})")
expected = binary_intersection(n, radius, np.arange(max_dv + 1), neurons=cells)

# %%
# Figure
# ------
# Left: exact normalised weights (dots) and softmax with the fitted beta (lines): sparser
# codes weight near memories more sharply. Right: the spiking granule layer's shared
# cells vs distance next to the exact expectation ``r I / 2^n`` and the softmax line.
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for d, (dv, w_exact, w_soft, beta) in exact_curves.items():
    line, = axes[0].plot(dv, w_soft, "-", label=f"d = {d}: softmax, beta = {beta:.1f}")
    axes[0].plot(dv, w_exact, "o", ms=3, color=line.get_color())
axes[0].set(xlabel="Hamming distance d_v of query and key",
            ylabel="normalised read weight",
            title=f"exact intersection (dots) vs softmax (lines), n = {n}")
axes[0].legend(fontsize=8)

dv = np.arange(max_dv + 1)
ok = np.isfinite(mean_shared) & (mean_shared > 0)
axes[1].semilogy(dv[ok], mean_shared[ok], "o", label=f"spiking granule layer ({bases} keys)")
axes[1].semilogy(dv, expected, "k--", lw=1, label="exact expectation r I(n, d, d_v) / 2^n")
axes[1].semilogy(dv, np.exp(fit.intercept + fit.beta * (1 - 2 * dv / n)), "-",
                 color="tab:orange", label=f"softmax fit: effective beta = {fit.beta:.1f}")
axes[1].axvspan(0, radius - 1, color="0.93", zorder=0)
axes[1].set(xlabel="Hamming distance d_v", ylabel="granule cells active for both",
            title=f"{cells} granule cells, coding level {coding:.1%}, radius {radius}; "
                  f"theory beta {theory:.1f}")
axes[1].title.set_fontsize(9)
axes[1].legend(fontsize=8)
fig.tight_layout()
Path(args.out).parent.mkdir(parents=True, exist_ok=True)
fig.savefig(args.out, dpi=100)
print(f"figure: {args.out}")
