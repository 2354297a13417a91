r"""How many imaged cells and trials tell two hypotheses apart: variance components and power.

An experiment images ``N`` cells of one animal, repeats each probe ``T`` times and asks
whether the measured value of an observable lies outside what the reference hypothesis
(H0) predicts. The imaged values of :func:`mapping.imaged.image_granule` (seeds = animals,
fields of view = samples of ``N`` cells, two noise draws per field) give three variance
components per hypothesis, probe and field size (a nested analysis of variance):

.. math::

    \sigma^2_{\mathrm{noise}} &= \overline{\mathrm{var}_{\mathrm{draw}}\,x_{sfd}}, \\
    \sigma^2_{\mathrm{field}} &= \max\bigl(\overline{\mathrm{var}_f\,\bar x_{sf}}
        - \sigma^2_{\mathrm{noise}} / 2,\ 0\bigr), \\
    \sigma^2_{\mathrm{animal}} &= \max\bigl(\mathrm{var}_s\,\bar x_s
        - (\sigma^2_{\mathrm{field}} + \sigma^2_{\mathrm{noise}} / 2) / F,\ 0\bigr),

with :math:`F` fields per seed. The animal component holds everything that changes from one
circuit to the next, the circuit's own spiking included (a conservative choice: trial-to-
trial spiking variability is counted as if repeating the trial could not average it). With
``T`` trials per probe and ``A`` animals the measured mean has variance

.. math:: \sigma^2(N, T) = \bigl(\sigma^2_{\mathrm{animal}} + \sigma^2_{\mathrm{field}}(N)
          + \sigma^2_{\mathrm{noise}}(N) / T\bigr) / A .

The test rejects H0 when the measurement lies outside H0's two-sided :math:`1 - \alpha`
prediction interval, :math:`|m - \mu_0| > z_{1-\alpha/2}\,\sigma_0`. If the rival ``h`` is
true, :math:`m \sim \mathcal N(\mu_h, \sigma_h^2)` and the power is

.. math:: \Phi\Bigl(\frac{\Delta - z_{1-\alpha/2}\sigma_0}{\sigma_h}\Bigr)
          + \Phi\Bigl(\frac{-\Delta - z_{1-\alpha/2}\sigma_0}{\sigma_h}\Bigr),
          \qquad \Delta = \mu_h - \mu_0 .

When the animal component alone keeps the power below the target, no number of cells or
trials reaches it: :func:`needed` says so (``cells`` and ``trials`` empty) rather than
extrapolating.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["Components", "components", "needed", "power", "power_table"]


@dataclass(frozen=True)
class Components:
    """Mean and variance components of one imaged observable (one hypothesis, probe, size)."""

    mean: float
    animal: float  #: sigma^2_animal: circuit to circuit (seeds)
    field: float  #: sigma^2_field: which cells are in the field of view
    noise: float  #: sigma^2_noise: imaging noise of one recording
    seeds: int

    def variance(self, trials: int = 1, animals: int = 1) -> float:
        r""":math:`\sigma^2(N, T)` of the mean over ``trials`` trials and ``animals`` animals."""
        return (self.animal + self.field + self.noise / trials) / animals


def components(values: dict[int, dict[int, Sequence[float]]]) -> Components:
    """Variance components from ``values[seed][field] = [draw 0, draw 1]``.

    NaN values (an observable a probe left undefined) are dropped; a field needs both draws,
    a seed at least two fields, and at least two seeds must remain.

    Raises
    ------
    ValueError
        If fewer than two seeds have usable values.
    """
    noise, field_var, seed_means, fields = [], [], [], []
    for by_field in values.values():
        means = []
        for draws in by_field.values():
            x = np.asarray(draws, dtype=float)
            if len(x) < 2 or not np.all(np.isfinite(x)):
                continue
            noise.append(x.var(ddof=1))
            means.append(x.mean())
        if len(means) < 2:
            continue
        field_var.append(np.var(means, ddof=1))
        seed_means.append(np.mean(means))
        fields.append(len(means))
    if len(seed_means) < 2:
        raise ValueError("variance components need at least two seeds with two fields of "
                         "two draws each")
    s_noise = float(np.mean(noise))
    s_field = max(float(np.mean(field_var)) - s_noise / 2, 0.0)
    s_animal = max(float(np.var(seed_means, ddof=1))
                   - (s_field + s_noise / 2) / float(np.mean(fields)), 0.0)
    return Components(float(np.mean(seed_means)), s_animal, s_field, s_noise,
                      len(seed_means))


def power(reference: Components, rival: Components, *, trials: int = 1, animals: int = 1,
          alpha: float = 0.05) -> float:
    """Probability that a measurement under ``rival`` falls outside H0's prediction interval.

    See the module docstring. A reference with zero variance rejects any measurement that
    differs from its mean; two zero variances give 1 where the means differ, else ``alpha``.
    """
    z = float(stats.norm.ppf(1 - alpha / 2))
    s0 = np.sqrt(reference.variance(trials, animals))
    sh = np.sqrt(rival.variance(trials, animals))
    delta = rival.mean - reference.mean
    if sh == 0:
        return float(abs(delta) > z * s0) if (s0 > 0 or delta != 0) else alpha
    return float(stats.norm.cdf((delta - z * s0) / sh) + stats.norm.cdf((-delta - z * s0) / sh))


def _nested(rows: Iterable[dict[str, Any]], observable: str
            ) -> dict[tuple, dict[int, dict[int, list[float]]]]:
    """``(hypothesis, index, cells) -> seed -> field -> draws`` of one observable."""
    out: dict[tuple, dict[int, dict[int, list[float]]]] = {}
    for row in sorted(rows, key=lambda r: r["draw"]):
        key = (row["hypothesis"], row["index"], row["cells"])
        out.setdefault(key, {}).setdefault(row["seed"], {}).setdefault(
            row["field"], []).append(float(row[observable]))
    return out


def power_table(rows: Sequence[dict[str, Any]], observables: Sequence[str], reference: str,
                *, trials: Sequence[int] = (1, 2, 4, 8, 16), animals: int = 1,
                alpha: float = 0.05) -> list[dict[str, Any]]:
    """Power of every rival against ``reference`` per observable, probe, cells and trials.

    ``rows`` are imaged rows (:func:`mapping.imaged.image_granule`) tagged with
    ``hypothesis`` and ``seed``. Probes where a hypothesis has too few usable values are
    left out.
    """
    out = []
    for observable in observables:
        nested = _nested(rows, observable)
        for (hypothesis, index, cells), values in sorted(nested.items()):
            if hypothesis == reference or (reference, index, cells) not in nested:
                continue
            try:
                ref = components(nested[(reference, index, cells)])
                riv = components(values)
            except ValueError:
                continue
            for t in trials:
                out.append({"hypothesis": hypothesis, "reference": reference,
                            "observable": observable, "index": index, "cells": cells,
                            "trials": int(t), "animals": animals,
                            "difference": riv.mean - ref.mean,
                            "sd_reference": float(np.sqrt(ref.variance(t, animals))),
                            "sd_rival": float(np.sqrt(riv.variance(t, animals))),
                            "power": power(ref, riv, trials=t, animals=animals,
                                           alpha=alpha)})
    return out


def needed(table: Sequence[dict[str, Any]], target: float = 0.8) -> list[dict[str, Any]]:
    """Per rival and observable, the smallest imaging effort that reaches ``target`` power.

    Effort is ``cells * trials``; ties go to fewer trials. The probe is the one that needs
    the least effort. Where no row reaches the target, ``cells`` and ``trials`` are None and
    ``best_power`` is the highest power found.
    """
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for row in table:
        key = (row["hypothesis"], row["observable"])
        entry = best.setdefault(key, {"hypothesis": key[0], "observable": key[1],
                                      "index": None, "cells": None, "trials": None,
                                      "best_power": 0.0})
        entry["best_power"] = max(entry["best_power"], row["power"])
        if row["power"] < target:
            continue
        effort = (row["cells"] * row["trials"], row["trials"])
        if entry["cells"] is None or effort < (entry["cells"] * entry["trials"],
                                                entry["trials"]):
            entry.update(index=row["index"], cells=row["cells"], trials=row["trials"])
    return list(best.values())
