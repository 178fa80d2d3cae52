"""What a rating rung knows about a user's level and beyond it, each figure with its interval over
users: how far its departures from the user's mean track the user's own, how far it follows each
user's level, and its error once its level is replaced by the user's (a diagnostic, not a rung).
Every function needs the user-mean baseline on the test items and is left out (None, or no row)
without it."""

from __future__ import annotations

import math
from statistics import fmean
from typing import Any

from ..answers.closed_form import RatingScale, interpolated_median
from . import scoring, stats
from .compare import mae_pair
from .types import EvalUser


def _has_user_mean(user: EvalUser) -> bool:
    return all("user mean" in i.attributes.get("baselines", {}) for i in user.test)


def beyond_user_mean(users: dict[str, EvalUser], predicted: dict[str, list[float]]) -> dict[str, Any] | None:
    """Pearson's r of (prediction − user mean) against (rating − user mean), over every test
    rating, with its interval over users: whether a rung or a baseline knows anything about an item
    that the user's average rating does not. None where it is undefined (no user-mean baseline, or
    a side that never varies)."""
    pairs = {u: [(p - i.attributes["baselines"]["user mean"], float(i.ground_truth) - i.attributes["baselines"]["user mean"])
                 for i, p in zip(users[u].test, values)]
             for u, values in predicted.items() if _has_user_mean(users[u])}
    if not pairs:
        return None
    r, low, high = stats.bootstrap_correlation(pairs)
    return None if any(math.isnan(v) for v in (r, low, high)) else {"r": r, "ci95": [low, high]}


def follows_user_level(users: dict[str, EvalUser], predicted: dict[str, list[float]]) -> dict[str, Any] | None:
    """The slope of each user's mean prediction on their mean rating, across users (1: the rung
    moves as far as the user's level does; 0: not at all), with its interval over users and r.
    None with fewer than three users or where it is undefined."""
    pairs = {u: [(fmean(i.attributes["baselines"]["user mean"] for i in users[u].test), fmean(values))]
             for u, values in predicted.items() if _has_user_mean(users[u])}
    if len(pairs) < 3:
        return None
    value, low, high = stats.bootstrap_pairs(pairs, stats.slope)
    r = stats.pearson([p for v in pairs.values() for p in v])
    return None if any(math.isnan(v) for v in (value, low, high, r)) else {"slope": value, "ci95": [low, high], "r": r}


def rating_marginal(ratings: list[float], scale: RatingScale) -> dict[str, float]:
    """How a user's ratings spread over the scale's whole numbers, each read as a unit-wide bucket
    (as ``interpolated_median`` reads a distribution): a rating on a boundary (3.5) counts half to
    each side, one beyond the end to the end. Half a count is added to every number, so none is
    impossible."""
    points = scale.points()
    counts = dict.fromkeys(points, 0.5)
    for rating in ratings:
        below, above = math.floor(rating + 0.5 - 1e-9), math.ceil(rating - 0.5 + 1e-9)
        for side in {below, above}:
            counts[min(max(side, points[0]), points[-1])] += 1 / len({below, above})
    total = sum(counts.values())
    return {f"{k}": v / total for k, v in counts.items()}


def corrected_medians(users: dict[str, EvalUser], records: list[dict], rung: str) -> dict[str, list[float]]:
    """user id → the rung's medians once its level is replaced by the user's: each answer's
    distribution times the user's own spread over the scale (their past ratings,
    ``rating_marginal``) divided by the rung's mean distribution over the user's *other* test
    items, renormalised (a label-shift correction). It reads the model's answers to the user's
    other items, never their ratings. Users with an unread answer, a single test item or no past
    rating are left out."""
    out = {}
    for record in records:
        user = users[record["user_id"]]
        answers = {a["id"]: a.get("probs") or {} for a in record["rungs"].get(rung, {}).get("items", [])}
        probs = [answers.get(i.id) for i in user.test]
        if len(probs) < 2 or not all(probs) or not all(i.scale for i in user.test):
            continue
        scale = RatingScale.of(user.test[0].scale)
        past = [float(h.ground_truth) for h in user.history if h.scale and h.ground_truth]
        target = rating_marginal(past, scale)
        if not past or not all(set(p) == set(target) for p in probs):
            continue
        corrected = []
        for n, p in enumerate(probs):
            others = probs[:n] + probs[n + 1:]
            level = {k: fmean(o[k] for o in others) for k in target}
            # + 0.01: a number the other answers all but rule out does not blow up
            q = {k: p[k] * target[k] / (level[k] + 0.01) for k in target}
            total = sum(q.values())
            corrected.append(scale.snap(interpolated_median({k: v / total for k, v in q.items()})))
        out[user.user_id] = corrected
    return out


def level_corrected(users: dict[str, EvalUser], records: list[dict], scored: dict[str, dict]) -> dict[str, dict]:
    """rung → its MAE with the level corrected (``corrected_medians``) and its interval, paired
    with its own MAE, the user-mean baseline's, and memory only's with the level corrected too
    (what a rung knows about the items beyond the level that memory only does not)."""
    errors = {}
    for rung in scored:
        corrected = corrected_medians(users, records, rung)
        if corrected and all(_has_user_mean(users[u]) for u in corrected):
            errors[rung] = {u: [abs(p - float(i.ground_truth)) for p, i in zip(corrected[u], users[u].test)]
                            for u in corrected}
    out = {}
    for rung, mine in errors.items():
        mae, low, high = stats.bootstrap_mean(mine)
        own = scoring.values(scored[rung], "error")
        row = {"MAE": mae, "ci95": [low, high], "users": len(mine),
               "vs_uncorrected": mae_pair("corrected", mine, "uncorrected", {u: own[u] for u in mine}),
               "vs_user_mean": mae_pair("corrected", mine, "user mean",
                                        scoring.baseline_errors(users, "user mean", set(mine)))}
        if rung != "memory_only" and "memory_only" in errors:
            shared = set(mine) & set(errors["memory_only"])
            row["vs_memory_only"] = mae_pair(rung, {u: mine[u] for u in shared}, "memory_only",
                                             {u: errors["memory_only"][u] for u in shared})
        out[rung] = row
    return out
