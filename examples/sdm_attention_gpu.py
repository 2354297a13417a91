"""SDM reads are softmax attention (on a GPU when there is one)
=============================================================

A sparse distributed memory (SDM) reads a query by summing the counters of every hard
location within Hamming radius ``d`` of it. Each stored pattern therefore contributes in
proportion to the number of hard locations shared by the query's ball and the pattern's
ball: the *intersection*. Bricken & Pehlevan (2021) showed that these read weights are
close to softmax attention, ``softmax(beta * cos(q, k))``, with a ``beta`` set by the
radius.

This example builds an SDM with random hard locations on ``cuda`` if torch sees a GPU
(else on the CPU), writes random patterns, measures the per-pattern read weights from the
neurons themselves, and compares them with softmax attention at the fitted beta. It also
times the dense and bit-packed read paths (``read_path="dense"`` / ``"packed"``), which
give the same bits.

Run: ``python examples/sdm_attention_gpu.py [--quick] [--out sdm_attention_gpu.png]``
"""

# %%
# Imports and command-line options
# --------------------------------
# ``--quick`` shrinks the memory so the script finishes in seconds on a CPU.
import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from models.attention import attention_weights, beta_for_radius
from models.intersection import binary_intersection
from models.patterns import flip_exact, random_binary, to_bipolar
from models.sdm import SDM

parser = argparse.ArgumentParser(
    description="SDM reads are softmax attention (on a GPU when there is one)")
parser.add_argument("--quick", action="store_true", help="small sizes (seconds on a CPU)")
parser.add_argument("--out", default="./sdm_attention_gpu.png", help="figure path")
args, _ = parser.parse_known_args()

device = "cuda" if torch.cuda.is_available() else "cpu"
n, radius = 64, 22  # address bits, Hamming radius (activation probability 0.84%)
r = 20_000 if args.quick else 200_000  # hard locations
m = 50  # stored patterns
print(f"device: {device}; SDM with {r} hard locations, n = {n}, radius = {radius}")

# %%
# Build the memory and write patterns
# -----------------------------------
# ``SDM.random`` draws the addresses on the CPU from the seed, so the same seed gives the
# same neurons on every device. The memory is autoassociative here (values = keys).
keys = random_binary(m, n, seed=0).to(device)
memory = SDM.random(r, n, radius=radius, seed=1, device=device, read_path="dense")
memory.write(keys, keys)

# %%
# Per-pattern read weights, measured on the neurons
# -------------------------------------------------
# The weight of pattern mu in the read of query q is the number of hard locations active
# for both: ``A(q) . A(key_mu)``. For each distance d_v = 0..30 the m keys are read with
# d_v of their bits flipped, and the shared neurons with their own key are averaged.
distances = np.arange(0, 31)
a_k = memory.activations(keys).float()  # (m, r) activation mask of the keys
measured = []
for d in distances:
    queries = flip_exact(keys.cpu(), int(d), seed=100 + int(d)).to(device)
    a_q = memory.activations(queries).float()  # (m, r)
    measured.append(float((a_q * a_k).sum(1).mean()))  # mean shared hard locations
measured = np.array(measured)
exact = binary_intersection(n, radius, distances, neurons=r)  # E = r I(n, d, d_v) / 2^n

# %%
# Softmax attention with the beta fitted to the radius
# ----------------------------------------------------
# ``beta_for_radius`` is the least-squares slope of log I(n, d, d_v) on cos(d_v) over
# d_v = 0..d-1. Softmax attention weights a key by ``exp(beta cos)``, with
# ``cos = 1 - 2 d_v / n`` for bipolar patterns, so relative to d_v = 0 the weight is
# ``exp(-2 beta d_v / n)``. ``attention_weights`` gives the same numbers from the patterns.
beta = beta_for_radius(n, radius)
softmax_rel = np.exp(-2 * beta * distances / n)
q_demo = flip_exact(keys[:1].cpu(), 8, seed=7).to(device)  # one query, 8 bits off key 0
att = attention_weights(to_bipolar(q_demo), to_bipolar(keys), beta, normalize=True)
print(f"beta for radius {radius}: {beta:.2f}; softmax weight of the source key for a "
      f"query 8 bits away: {float(att[0, 0]):.3f} (of {m} keys)")
fit = slice(0, radius)
log_err = np.abs(np.log(measured[fit] / measured[0]) - np.log(softmax_rel[fit])).max()
print(f"largest |log(SDM weight / softmax weight)| over d_v < {radius}: {log_err:.2f}")

# %%
# Dense vs bit-packed reads give the same bits
# --------------------------------------------
packed = SDM.random(r, n, radius=radius, seed=1, device=device, read_path="packed")
packed.write(keys, keys)
noisy = flip_exact(keys.cpu(), 6, seed=3).to(device)
timings = {}
bits = {}
for name, mem in (("dense", memory), ("packed", packed)):
    mem.read(noisy[:2])  # warm-up (kernel compilation on CUDA)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    bits[name] = mem.read(noisy)
    if device == "cuda":
        torch.cuda.synchronize()
    timings[name] = 1e3 * (time.perf_counter() - start)
same = bool(torch.equal(bits["dense"], bits["packed"]))
accuracy = float((bits["packed"] == keys).float().mean())
print(f"read of {m} queries (6 of {n} bits flipped): dense {timings['dense']:.1f} ms, "
      f"packed {timings['packed']:.1f} ms; same bits: {same}; {accuracy:.1%} of bits right")

# %%
# Figure
# ------
# Left: shared hard locations vs distance, relative to distance 0 (log scale): measured
# on the neurons, the exact intersection, and softmax attention at the fitted beta.
# Right: wall time of the two read paths on this device.
fig, axes = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [2, 1]})
ax = axes[0]
ax.semilogy(distances, measured / measured[0], "o", label=f"SDM, {r} neurons (measured)")
ax.semilogy(distances, exact / exact[0], "k--", lw=1, label="exact intersection I(n, d, d_v)")
ax.semilogy(distances, softmax_rel, "-", color="tab:orange",
            label=f"softmax attention, beta = {beta:.2f}")
ax.axvspan(0, radius - 1, color="0.93", zorder=0, label="fit range d_v < d")
ax.set(xlabel="Hamming distance d_v between query and key",
       ylabel="read weight relative to d_v = 0",
       title=f"SDM read weights vs attention (n = {n}, d = {radius})")
ax.legend(fontsize=8)
axes[1].bar(list(timings), list(timings.values()), color=["tab:blue", "tab:green"])
axes[1].set(ylabel="ms per read of 50 queries",
            title=f"{device}: same bits = {same}")
fig.tight_layout()
Path(args.out).parent.mkdir(parents=True, exist_ok=True)
fig.savefig(args.out, dpi=100)
print(f"figure: {args.out}")
