r"""Savings and spontaneous recovery per circuit, measured from the probes' outputs.

Two readouts of each probe, both pointing toward the action its cue is taught in
acquisition (cue 0: action A; cue 1: action B):

the *learned choice*
    :math:`+c` for cue 0, :math:`-c` for cue 1, with :math:`c` = ``output_a - output_b``
    (:mod:`mapping.protocols`): which output groups fired at all, the behavioural readout;
the *learned nuclear response*
    the mean nuclear spike count of the taught group minus the other group's
    (``nuclear_spikes_*``): graded where the choice saturates once every taught cell fires,
    as a conditioned response's amplitude is graded where its probability is not (what a
    recording of the nuclei counts).

Per circuit (one hypothesis, one seed) and averaged over both cues, the measures a protocol
defines, for the choice (``acquisition``, ...) and for the nuclear response (the same names
with ``_nuclear``):

``acquisition``
    mean over the first :math:`k` acquisition trials, :math:`k` the number of
    re-acquisition trials (so both sides of ``savings`` count as many trials);
``reacquisition``
    mean over the :math:`k` re-acquisition trials;
``savings``
    ``reacquisition - acquisition``: > 0, the circuit re-learns faster than it first
    learned (savings: Napier, Macrae & Kehoe 1992; Medina, Garcia & Mauk 2001); < 0, more
    slowly;
``extinguished``
    at the last extinction trial before re-acquisition or the rest (0: extinguished; > 0: a
    residual of the association);
``recovery``
    at the probes after the rest minus at the last extinction trial (spontaneous recovery:
    Pavlov 1927; Rescorla 2004).

Averaging per circuit before comparing circuits pools the two cues and the trials of a
phase into one number per animal, as a lab would score a session; the contrasts between
hypotheses are then over circuits (:func:`mapping.contrasts.contrasts`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["LEARNING_MEASURES", "as_probe_rows", "learned_choice", "learned_nuclear",
           "learning_measures"]

#: the measures of one readout, in the order reports list them
_MEASURES = ("acquisition", "extinguished", "reacquisition", "savings", "recovery")
#: the per-circuit measures of :func:`learning_measures`: the learned choice's, then the
#: learned nuclear response's (``_nuclear``)
LEARNING_MEASURES = _MEASURES + tuple(f"{m}_nuclear" for m in _MEASURES)


def _toward_taught(row: dict[str, Any], value: float, what: str) -> float:
    """``value`` (A minus B) signed toward the probe's taught action (cue 0: A, cue 1: B)."""
    if row["cue"] not in (0, 1):
        raise ValueError(f"a {what} needs cue 0 or 1, got {row['cue']!r}")
    return value if row["cue"] == 0 else -value


def learned_choice(row: dict[str, Any]) -> float:
    """The probe's choice toward its cue's taught action (cue 0: A, cue 1: B)."""
    return _toward_taught(row, float(row["choice"]), "learned choice")


def learned_nuclear(row: dict[str, Any]) -> float:
    """Nuclear spikes per cell of the cue's taught group minus the other group's."""
    return _toward_taught(row, float(row["nuclear_spikes_a"]) - float(row["nuclear_spikes_b"]),
                          "learned nuclear response")


def _by_phase(rows: Sequence[dict[str, Any]]) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """Cue -> phase kind -> its probes in protocol order (generalisation probes left out)."""
    out: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for row in sorted(rows, key=lambda r: r["index"]):
        if not row.get("distance"):
            out.setdefault(row["cue"], {}).setdefault(row["phase"], []).append(row)
    return out


def _before(probes: list[dict[str, Any]], index: int) -> dict[str, Any] | None:
    """The last of ``probes`` before protocol position ``index``."""
    earlier = [p for p in probes if p["index"] < index]
    return earlier[-1] if earlier else None


def _circuit(by_cue: dict[int, dict[str, list[dict[str, Any]]]],
             score: Callable[[dict[str, Any]], float]) -> dict[str, float]:
    """The measures of one circuit's grouped probes scored by ``score``, each a cue mean."""
    per_cue: dict[str, list[float]] = {}
    for phases in by_cue.values():
        acquired, extinct = phases.get("acquisition", []), phases.get("extinction", [])
        again, rested = phases.get("reacquisition", []), phases.get("delay", [])
        found: dict[str, float] = {}
        if again and len(acquired) >= len(again):
            found["acquisition"] = float(np.mean([score(r) for r in acquired[:len(again)]]))
            found["reacquisition"] = float(np.mean([score(r) for r in again]))
            found["savings"] = found["reacquisition"] - found["acquisition"]
        after = again[0]["index"] if again else rested[0]["index"] if rested else None
        last = _before(extinct, after) if after is not None and extinct else None
        if last is not None:
            found["extinguished"] = score(last)
        if rested and last is not None:
            found["recovery"] = float(np.mean([score(r) for r in rested])) \
                - found["extinguished"]
        for name, value in found.items():
            per_cue.setdefault(name, []).append(value)
    return {name: float(np.mean(values)) for name, values in per_cue.items()}


def learning_measures(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per circuit (``hypothesis``, ``seed``) with the measures its protocol defines.

    ``rows`` are probe rows of :func:`mapping.protocols.run_protocol` tagged with
    ``hypothesis`` and ``seed`` (``predict``'s ``probes.csv``); rows without nuclear spike
    counts give the choice's measures only. A protocol without
    re-acquisition has no ``acquisition``, ``reacquisition`` or ``savings``; one without a
    rest after extinction no ``recovery``; one without extinction none of the last two.
    Returns an empty list when the protocol defines none (acquisition-extinction,
    overwrite, generalisation).
    """
    circuits: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        circuits.setdefault((row["hypothesis"], row["seed"]), []).append(row)
    out = []
    for (hypothesis, seed), mine in sorted(circuits.items()):
        by_cue = _by_phase(mine)
        found = _circuit(by_cue, learned_choice)
        if all("nuclear_spikes_a" in r and "nuclear_spikes_b" in r for r in mine):
            found.update({f"{name}_nuclear": value
                          for name, value in _circuit(by_cue, learned_nuclear).items()})
        if found:
            out.append({"hypothesis": hypothesis, "seed": seed,
                        **{m: found[m] for m in LEARNING_MEASURES if m in found}})
    return out


def as_probe_rows(measures: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`learning_measures` rows shaped as one whole-protocol probe (index -1, cue -1).

    So :func:`mapping.contrasts.predictions` and :func:`~mapping.contrasts.contrasts`
    compare them like any observable; a measure a row lacks reads NaN.
    """
    return [{"hypothesis": m["hypothesis"], "seed": m["seed"], "index": -1,
             "phase": "protocol", "trial": 0, "cue": -1, "distance": 0,
             **{name: m.get(name, float("nan")) for name in LEARNING_MEASURES}}
            for m in measures]
