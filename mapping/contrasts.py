r"""Predictions per hypothesis over seeds, and the contrasts that tell hypotheses apart.

Rows are probes of :func:`mapping.protocols.run_protocol`, each tagged with its
``hypothesis`` and ``seed``. A *prediction* is the mean of one observable at one probe
(phase, trial, cue, distance) over seeds, with its standard error and a 95% interval
(Student t). A *contrast* compares a rival hypothesis with the reference at one probe:

.. math:: z = \frac{\bar x_h - \bar x_0}{\sqrt{s_h^2 / n_h + s_0^2 / n_0}}

(Welch's standard error of the difference) and the effect size Cohen's
:math:`d = (\bar x_h - \bar x_0) / s_p` with the pooled standard deviation :math:`s_p`. An
observable *separates* two hypotheses when :math:`|z| > 3` at some probe. Probes where both
hypotheses give the same value in every seed have :math:`z = 0`; a difference with zero
spread in both is infinite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["PROBE_KEYS", "contrasts", "max_abs_z", "predictions", "separating"]

#: the columns that identify one probe across seeds and hypotheses
PROBE_KEYS = ("phase", "trial", "cue", "distance")


def _groups(rows: Iterable[dict[str, Any]], observable: str
            ) -> dict[tuple[str, tuple], dict[int, float]]:
    out: dict[tuple[str, tuple], dict[int, float]] = {}
    for row in rows:
        probe = (row["index"], *(row[k] for k in PROBE_KEYS))
        out.setdefault((row["hypothesis"], probe), {})[row["seed"]] = float(row[observable])
    return out


def predictions(rows: Sequence[dict[str, Any]], observables: Sequence[str]
                ) -> list[dict[str, Any]]:
    """Mean, standard error and 95% interval over seeds, per hypothesis, probe, observable.

    NaN values (an observable a probe does not define) are left out of the statistics.
    """
    out = []
    for observable in observables:
        for (hypothesis, probe), by_seed in sorted(_groups(rows, observable).items()):
            x = np.array([v for v in by_seed.values() if np.isfinite(v)])
            n = len(x)
            mean = float(x.mean()) if n else float("nan")
            se = float(x.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
            half = float(stats.t.ppf(0.975, n - 1) * se) if n > 1 else float("nan")
            out.append({"hypothesis": hypothesis, "observable": observable,
                        "index": probe[0], **dict(zip(PROBE_KEYS, probe[1:], strict=True)),
                        "seeds": n, "mean": mean, "se": se,
                        "ci_low": mean - half, "ci_high": mean + half})
    return out


def _contrast(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(difference a - b, z, Cohen's d) of two samples."""
    diff = float(a.mean() - b.mean())
    va = a.var(ddof=1) if len(a) > 1 else 0.0
    vb = b.var(ddof=1) if len(b) > 1 else 0.0
    se = float(np.sqrt(va / len(a) + vb / len(b)))
    pooled = float(np.sqrt(((len(a) - 1) * va + (len(b) - 1) * vb)
                           / max(len(a) + len(b) - 2, 1)))
    if se == 0:
        z = 0.0 if diff == 0 else float(np.copysign(np.inf, diff))
    else:
        z = diff / se
    if pooled == 0:
        d = 0.0 if diff == 0 else float(np.copysign(np.inf, diff))
    else:
        d = diff / pooled
    return diff, z, d


def contrasts(rows: Sequence[dict[str, Any]], observables: Sequence[str], reference: str
              ) -> list[dict[str, Any]]:
    """Every rival hypothesis against ``reference``, per probe and observable.

    Raises
    ------
    ValueError
        If ``reference`` has no rows, or a hypothesis was run on fewer than two seeds.
    """
    hypotheses = sorted({r["hypothesis"] for r in rows})
    if reference not in hypotheses:
        raise ValueError(f"the reference hypothesis {reference!r} has no rows "
                         f"(hypotheses run: {', '.join(hypotheses)})")
    out = []
    for observable in observables:
        groups = _groups(rows, observable)
        for (hypothesis, probe), by_seed in sorted(groups.items()):
            if hypothesis == reference:
                continue
            ref = groups.get((reference, probe))
            if ref is None:
                continue
            a = np.array([v for v in by_seed.values() if np.isfinite(v)])
            b = np.array([v for v in ref.values() if np.isfinite(v)])
            if len(a) < 2 or len(b) < 2:
                if len(by_seed) < 2 or len(ref) < 2:
                    raise ValueError("contrasts need at least two seeds per hypothesis")
                continue  # an observable undefined in most seeds at this probe
            diff, z, d = _contrast(a, b)
            out.append({"hypothesis": hypothesis, "reference": reference,
                        "observable": observable, "index": probe[0],
                        **dict(zip(PROBE_KEYS, probe[1:], strict=True)),
                        "difference": diff, "z": z, "cohen_d": d})
    return out


def max_abs_z(table: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per rival hypothesis and observable, the largest ``|z|`` over the probes.

    ``table`` is a :func:`contrasts` table.
    """
    out: dict[str, dict[str, float]] = {}
    for row in table:
        best = out.setdefault(row["hypothesis"], {})
        best[row["observable"]] = max(abs(row["z"]), best.get(row["observable"], 0.0))
    return out


def separating(table: Sequence[dict[str, Any]], threshold: float = 3.0
               ) -> dict[str, dict[str, float]]:
    """Per rival hypothesis, the observables that separate it from the reference.

    An observable separates when its largest ``|z|`` over probes (:func:`max_abs_z`) exceeds
    ``threshold``; the value is that ``|z|`` (observables that never do are left out).
    """
    return {hypothesis: {o: z for o, z in best.items() if z > threshold}
            for hypothesis, best in max_abs_z(table).items()}
