#!/usr/bin/env python
r"""Benchmark of TEM-t and TEM training: optimiser steps per second on CPU and CUDA.

One *step* is one truncated-backprop window (``--window`` steps of ``--batch`` walks):
forward, cross-entropy (plus TEM's other losses), backward, Adam update, exactly as
:func:`models.tem_training.train` does it. The walks are one training episode of the default
:class:`~models.tem_training.TrainConfig` (square worlds 4x4..9x9), generated once before
timing, so the figure is the model's cost alone. The state (position code and memory) carries
over from window to window as in training, so later windows attend over more memories; the
reported rate is the mean over ``--windows`` windows after ``--warmup`` windows (CUDA timed
after ``torch.cuda.synchronize``).

Rows: model x device x CPU threads, with the ratio of each row's rate to the first CPU row of
the same model (the baseline, one thread). For TEM the first row is its memory run as plain
autograd operations (:func:`models.tem_hebbian.autograd_reference`: the same mathematics,
each retrieval and clip its own autograd node), so the fast path's speed-up is measured in
the same run. Without a CUDA GPU the CUDA rows are reported as unavailable.

Examples
--------
``python bench/tem_train.py`` (both models, CPU 1 and 2 threads, CUDA if present);
``python bench/tem_train.py --models tem-t --threads 1``.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import sys
import time
from collections.abc import Sequence
from typing import Any

import torch

from models.tem_hebbian import autograd_reference
from models.tem_training import build_model, episode_batch, train_config_for_worlds

__all__ = ["main", "time_training"]


def time_training(model_type: str, device: str, *, threads: int = 1, batch: int = 16,
                  window: int = 20, windows: int = 20, warmup: int = 3,
                  seed: int = 0, reference: bool = False) -> dict[str, Any]:
    """Steps per second of training ``model_type`` on ``device`` (see the module docstring).

    ``reference``: TEM's memory through the plain autograd reference
    (:func:`models.tem_hebbian.autograd_reference`) instead of the fast path.
    """
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    mode = autograd_reference() if reference else contextlib.nullcontext()
    try:
        with mode:
            total = (windows + warmup) * window
            config = train_config_for_worlds(model=model_type, batch_size=batch, window=window,
                                             walk_length=(total, total), device=device, seed=seed)
            data = episode_batch(config, 0)
            model = build_model(model_type, config.model_config(), seed=seed, device=device)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            acts, obs = data["actions"], data["observations"]
            state = model.begin(obs[:, 0])
            elapsed = 0.0
            for k in range(windows + warmup):
                if device.startswith("cuda"):
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
                t0 = k * window
                out = model(state, acts[:, t0:t0 + window], obs[:, t0 + 1:t0 + 1 + window])
                optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                optimizer.step()
                state = model.detach_state(out.state)
                if device.startswith("cuda"):
                    torch.cuda.synchronize(device)
                if k >= warmup:
                    elapsed += time.perf_counter() - start
    finally:
        torch.set_num_threads(old)
    return {"model": model_type + (" (autograd reference)" if reference else ""),
            "device": device, "threads": threads,
            "steps_per_s": windows / elapsed, "ms_per_step": 1e3 * elapsed / windows,
            "walk_steps_per_s": windows * window * batch / elapsed}


def _parse_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="tem-t,tem", help="comma-separated: tem-t, tem")
    parser.add_argument("--threads", default="1,2", help="CPU thread counts, comma-separated")
    parser.add_argument("--batch", type=int, default=16, help="walks per batch (16)")
    parser.add_argument("--window", type=int, default=20, help="backprop window (20)")
    parser.add_argument("--windows", type=int, default=20, help="timed windows (20)")
    parser.add_argument("--tem-windows", type=int, default=4,
                        help="timed windows for TEM (slower; 4)")
    args = parser.parse_args(argv)
    models = _parse_list(args.models)
    threads = [int(t) for t in _parse_list(args.threads)]
    print(f"# TEM/TEM-t training bench: batch {args.batch}, window {args.window}; "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__}")
    cuda = torch.cuda.is_available()
    if cuda:
        print(f"# CUDA: {torch.cuda.get_device_name(0)}")
    else:
        print("# CUDA: not available on this machine (no GPU) - CUDA rows not measured")
    print(f"{'model':27s} {'device':6s} {'threads':>7s} {'steps/s':>9s} {'ms/step':>9s} "
          f"{'walk steps/s':>13s} {'vs cpu-1':>9s}")
    for model_type in models:
        n = args.tem_windows if model_type == "tem" else args.windows
        rows = [time_training(model_type, "cpu", threads=t, batch=args.batch,
                              window=args.window, windows=n) for t in threads]
        if cuda:
            rows.append(time_training(model_type, "cuda", batch=args.batch, window=args.window,
                                      windows=n))
        if model_type == "tem":  # the fast path against its autograd reference, same run
            rows.insert(0, time_training(model_type, "cpu", threads=threads[0],
                                         batch=args.batch, window=args.window, windows=n,
                                         reference=True))
        base = rows[0]["steps_per_s"]
        for row in rows:
            threads_col = str(row["threads"]) if row["device"] == "cpu" else "-"
            print(f"{row['model']:27s} {row['device']:6s} {threads_col:>7s} "
                  f"{row['steps_per_s']:9.2f} {row['ms_per_step']:9.1f} "
                  f"{row['walk_steps_per_s']:13.0f} {row['steps_per_s'] / base:8.2f}x",
                  flush=True)
        if not cuda:
            print(f"{model_type:27s} {'cuda':6s} {'-':>7s} {'n/a':>9s} {'n/a':>9s} {'n/a':>13s} "
                  f"{'n/a':>9s}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
