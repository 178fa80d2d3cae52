"""Recency weights: a user's recent behaviour can outweigh their old behaviour.

An interaction ``age`` days older than the reference weighs ``0.5 ** (age / half_life_days)``:
half as much per half-life. The reference is the newest of the interactions weighed (it weighs 1),
so weights never underflow on an old history; since only the ratios of weights matter (a ranking
by similarity × weight, a weighted mean), measuring from the query time would give the same
results. A half-life of 0 means no weighting: every weight is 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .errors import PersonaAgentError

DAY_S = 86_400.0


def validated(half_life_days: float) -> float:
    """``half_life_days`` as a float, or a clear error when it is negative or not a finite number."""
    try:
        days = float(half_life_days)
    except (TypeError, ValueError):
        raise PersonaAgentError(f"the recency half-life must be a number of days (got {half_life_days!r})") from None
    if not math.isfinite(days) or days < 0:
        raise PersonaAgentError(f"the recency half-life must be 0 (off) or a positive number of days (got {half_life_days!r})")
    return days


def weights(timestamps: Sequence[float], half_life_days: float) -> list[float]:
    """The weight of each time in ``timestamps`` (seconds), measured from the newest of them."""
    days = validated(half_life_days)
    if not days or not timestamps:
        return [1.0] * len(timestamps)
    newest = max(timestamps)
    return [0.5 ** ((newest - t) / DAY_S / days) for t in timestamps]


def weighted_mean(values: Sequence[float], weights_: Sequence[float]) -> float:
    """The mean of ``values`` weighted by ``weights_`` (all 1: the plain mean)."""
    total = math.fsum(weights_)
    if total <= 0:
        raise ValueError("weighted_mean needs at least one positive weight")
    return math.fsum(v * w for v, w in zip(values, weights_, strict=True)) / total


def ranked(similarities: Sequence[float], timestamps: Sequence[float], half_life_days: float) -> list[int]:
    """Indices of candidates best first: by similarity (floored at 0) × recency weight, ties by
    similarity, then by position. With the half-life 0 this is the order of similarity alone."""
    w = weights(timestamps, half_life_days)
    return sorted(range(len(similarities)),
                  key=lambda i: (-max(similarities[i], 0.0) * w[i], -similarities[i], i))
