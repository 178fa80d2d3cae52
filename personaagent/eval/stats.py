"""Paired statistics for the evaluation: bootstrap intervals that resample users, and exact tests.

Items of one user are not independent (same memory, same persona), so intervals resample users
with replacement and recompute the item-weighted mean of the per-item differences.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

N_BOOTSTRAP = 2000


def _mean_of(groups: Sequence[Sequence[float]]) -> float:
    count = sum(len(g) for g in groups)
    return sum(sum(g) for g in groups) / count if count else float("nan")


def bootstrap_mean(per_user: Mapping[str, Sequence[float]], n: int = N_BOOTSTRAP, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the item-weighted mean of ``per_user`` values and its 95% percentile
    interval over ``n`` resamples of users."""
    groups = [list(v) for _, v in sorted(per_user.items()) if len(v)]
    if not groups:
        raise ValueError("no values to summarise")
    rng = random.Random(seed)
    means = sorted(_mean_of([groups[rng.randrange(len(groups))] for _ in groups]) for _ in range(n))
    return _mean_of(groups), means[int(0.025 * n)], means[int(0.975 * n) - 1]


def pearson(pairs: Sequence[tuple[float, float]]) -> float:
    """Pearson's r of the pairs; nan when either side does not vary."""
    n = len(pairs)
    if n < 2:
        return float("nan")
    mx, my = sum(x for x, _ in pairs) / n, sum(y for _, y in pairs) / n
    sxy = sum((x - mx) * (y - my) for x, y in pairs)
    sxx, syy = sum((x - mx) ** 2 for x, _ in pairs), sum((y - my) ** 2 for _, y in pairs)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else float("nan")


def slope(pairs: Sequence[tuple[float, float]]) -> float:
    """The least-squares slope of y on x; nan when x does not vary."""
    n = len(pairs)
    if n < 2:
        return float("nan")
    mx, my = sum(x for x, _ in pairs) / n, sum(y for _, y in pairs) / n
    sxx = sum((x - mx) ** 2 for x, _ in pairs)
    return sum((x - mx) * (y - my) for x, y in pairs) / sxx if sxx > 0 else float("nan")


def bootstrap_pairs(per_user: Mapping[str, Sequence[tuple[float, float]]], statistic=pearson, n: int = N_BOOTSTRAP,
                    seed: int = 0) -> tuple[float, float, float]:
    """(value, low, high): ``statistic`` (Pearson's r, or ``slope``) over every user's pairs and its
    95% percentile interval over ``n`` resamples of users (resamples where it is undefined are skipped)."""
    groups = [list(v) for _, v in sorted(per_user.items()) if len(v)]
    if not groups:
        raise ValueError("no pairs to summarise")
    rng = random.Random(seed)
    draws = (statistic([p for _ in groups for p in groups[rng.randrange(len(groups))]]) for _ in range(n))
    values = sorted(v for v in draws if not math.isnan(v))
    whole = statistic([p for g in groups for p in g])
    if not values:
        return whole, float("nan"), float("nan")
    return whole, values[int(0.025 * len(values))], values[int(0.975 * len(values)) - 1]


def bootstrap_correlation(per_user: Mapping[str, Sequence[tuple[float, float]]], n: int = N_BOOTSTRAP,
                          seed: int = 0) -> tuple[float, float, float]:
    """(r, low, high): Pearson's r over every user's pairs with its interval over users."""
    return bootstrap_pairs(per_user, pearson, n, seed)


def paired_difference(a: Mapping[str, Sequence[float]], b: Mapping[str, Sequence[float]], n: int = N_BOOTSTRAP,
                      seed: int = 0) -> dict[str, float | list[float]]:
    """The mean of ``a − b`` over items both have (same users, items in the same order), with a
    95% bootstrap interval that resamples users."""
    diffs = {u: [x - y for x, y in zip(a[u], b[u])] for u in a if u in b}
    delta, low, high = bootstrap_mean(diffs, n, seed)
    return {"delta": delta, "ci95": [low, high]}


def binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided p-value of ``k`` successes in ``n`` fair trials (doubling the smaller tail)."""
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(0, min(k, n - k) + 1)) / 2**n
    return min(1.0, 2 * tail)


def sign_test(diffs: Sequence[float]) -> dict[str, float | int]:
    """Exact sign test of paired differences (ties dropped): how many favour each side, and p."""
    wins = sum(d < 0 for d in diffs)  # lower is better: a negative difference is a win for the first
    losses = sum(d > 0 for d in diffs)
    return {"wins": wins, "losses": losses, "ties": len(diffs) - wins - losses,
            "p": binomial_two_sided(wins, wins + losses)}


def mcnemar_exact(a_right: Sequence[bool], b_right: Sequence[bool]) -> dict[str, float | int]:
    """Exact McNemar test for paired right/wrong outcomes: the discordant pairs under a fair coin."""
    only_a = sum(x and not y for x, y in zip(a_right, b_right))
    only_b = sum(y and not x for x, y in zip(a_right, b_right))
    return {"only_first_right": only_a, "only_second_right": only_b,
            "p": binomial_two_sided(only_a, only_a + only_b)}


def verdict(delta: float, ci: Sequence[float], lower_is_better: bool, first: str, second: str) -> str:
    """How the text states a paired result: an interval containing 0 is no detectable difference."""
    if ci[0] <= 0 <= ci[1]:
        return "no detectable difference"
    better = (delta < 0) == lower_is_better
    return f"{first} better than {second}" if better else f"{first} worse than {second}"
