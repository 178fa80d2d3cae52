"""Selection: is a candidate persona better than the current one on the same samples?

Paired per-sample losses on the selection set (the validation window plus the batch): accepted
only when the mean improvement reaches the margin and the candidate wins on more samples than it
loses, so a lucky batch of two or three samples cannot carry it.
"""

from __future__ import annotations

from statistics import fmean
from typing import Any

TIE = 1e-6  # losses closer than this are a tie


def paired(current: dict[str, float], candidate: dict[str, float], splits: dict[str, str],
           margin: float) -> dict[str, Any]:
    """Per-sample comparison of ``candidate`` with ``current`` (sample id → loss; lower is better)."""
    ids = [i for i in current if i in candidate]
    gains = {i: current[i] - candidate[i] for i in ids}
    wins = sum(g > TIE for g in gains.values())
    losses = sum(g < -TIE for g in gains.values())

    def mean_gain(split: str) -> float | None:
        values = [g for i, g in gains.items() if splits.get(i) == split]
        return fmean(values) if values else None

    improvement = fmean(gains.values()) if gains else 0.0
    return {"improvement": improvement, "wins": wins, "losses": losses, "ties": len(ids) - wins - losses,
            "batch_improvement": mean_gain("batch"), "validation_improvement": mean_gain("validation"),
            "passes": bool(ids) and improvement >= max(margin, TIE) and wins > losses}


def best(results: list[dict[str, Any]]) -> int | None:
    """The index of the passing candidate with the largest mean improvement, or None."""
    passing = [i for i, r in enumerate(results) if r["passes"]]
    return max(passing, key=lambda i: results[i]["improvement"]) if passing else None
