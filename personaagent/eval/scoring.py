"""Scores of recorded answers against the ground truth, which is read from the dataset again when
the report is built (the committed records hold none).

Options: right or wrong by the most probable option, p(right option), its negative log, and the
answer after dividing out the rung's letter prior. Ratings: absolute error of the median (MAE),
squared error of the mean (RMSE), the expected absolute error under the distribution (the
optimizer's continuous loss by default) and the absolute error of the median before rounding to the
scale (its loss with ``metric="median"``). An unread answer counts as the scale's midpoint, as in the optimizer.
"""

from __future__ import annotations

import math
from typing import Any

from ..answers.closed_form import RatingScale, median_loss, rating_loss
from ..answers.position_bias import debias, letter_prior
from ..persona.losses import label_match
from .types import EvalItem, EvalUser


def continuous_measure(kind: str, loss: str = "auto") -> tuple[str, str, float]:
    """The continuous measure that matches the optimizer's loss ``loss`` (its ``metric`` setting):
    (score key, label, sign that makes it "higher is better")."""
    if kind == "rating":
        if loss == "median":
            return "median_error", "absolute error of the unrounded median", -1.0
        return "expected_error", "expected absolute error", -1.0
    return "p_right", "p(right option)", 1.0


def kind_of(users: list[EvalUser]) -> str:
    items = [i for u in users for i in u.test]
    if items and all(i.scale for i in items):
        return "rating"
    if items and all(i.options for i in items):
        return "choice"
    return "label"


def score_item(item: EvalItem, answer: dict[str, Any], prior: list[float] | None = None) -> dict[str, Any]:
    if item.scale:
        scale = RatingScale.of(item.scale)
        truth = float(item.ground_truth)
        probs = answer.get("probs") or {}
        median = answer["median"] if probs else scale.midpoint
        mean = answer["mean"] if probs else scale.midpoint
        return {"error": abs(median - truth), "sq_error": (mean - truth) ** 2, "median": median, "mean": mean,
                "expected_error": rating_loss(probs, truth, scale), "median_error": median_loss(probs, truth, scale),
                "unparsed": not probs}
    if item.options:
        wanted = item.options.index(item.ground_truth)
        probs = answer.get("probs") or []
        if not probs:
            return {"right": False, "right_debiased": False, "p_right": 0.0, "nll": -math.log(1e-6),
                    "position": wanted, "unparsed": True}
        read = readings(answer, prior)
        fixed = read.get(PRIOR_DIVIDED) or (debias(probs, prior) if prior else probs)
        return {"right": _top(probs) == wanted, "right_debiased": _top(fixed) == wanted,
                "p_right": probs[wanted], "nll": -math.log(max(probs[wanted], 1e-6)),
                "position": wanted, "unparsed": False,
                "readings": {name: _top(dist) == wanted for name, dist in read.items()}}
    right = label_match({"ground_truth": item.ground_truth}, answer.get("text", "")).loss == 0
    return {"right": right, "right_debiased": right, "p_right": float(right), "unparsed": False}


ONE_ORDER, TWO_ORDERS, EVERY_ORDER = "one order", "two orders", "every order"
PRIOR_DIVIDED = "one order, letter prior divided out"
READINGS = (ONE_ORDER, TWO_ORDERS, EVERY_ORDER, PRIOR_DIVIDED)


def _top(probs: list[float]) -> int:
    return max(range(len(probs)), key=probs.__getitem__)


def _mean(rows: list[list[float]]) -> list[float]:
    return [sum(column) / len(rows) for column in zip(*rows)]


def by_position(orders: list[list[float]]) -> list[list[float]]:
    """An answer's distributions under every cyclic order, option-indexed (as recorded), turned
    position-indexed: under order k, option i sat at position i − k."""
    n = len(orders)
    return [[dist[(j + k) % n] for j in range(n)] for k, dist in enumerate(orders)]


def readings(answer: dict[str, Any], prior: list[float] | None = None) -> dict[str, list[float]]:
    """The distributions over an item's options that other readings of the same answer give,
    where it was read under every cyclic order of its options: the order given only (one call),
    two orders half the options apart, every order, and the order given with the letter prior
    divided out. Empty otherwise. (What the answer *was* is ``probs``: every order, weighed by the
    check against what the user stated where the rung has statements.)"""
    orders = answer.get("orders") or []
    if len(orders) < 2 or len(orders) != len(orders[0]) or not all(sum(o) > 0 for o in orders):
        return {}
    out = {ONE_ORDER: orders[0], TWO_ORDERS: _mean([orders[0], orders[round(len(orders) / 2)]]),
           EVERY_ORDER: _mean(orders)}
    if prior and len(prior) == len(orders):
        out[PRIOR_DIVIDED] = debias(orders[0], prior)
    return out


def rung_prior(records: list[dict], rung: str) -> list[float] | None:
    """The rung's letter prior, from the items answered under every rotation of their options
    (recorded by the rung as ``rotations``, or each answer's ``orders``)."""
    rotated = [r["positions"] for rec in records for r in rec["rungs"].get(rung, {}).get("rotations", [])]
    rotated += [by_position(a["orders"]) for rec in records for a in rec["rungs"].get(rung, {}).get("items", [])
                if len(a.get("orders") or []) > 1 and len(a["orders"]) == len(a["orders"][0])]
    rotated = [shifts for shifts in rotated if all(len(s) == len(shifts[0]) and sum(s) > 0 for s in shifts)]
    lengths = {len(shifts[0]) for shifts in rotated}
    return letter_prior(rotated) if rotated and len(lengths) == 1 else None


def score_rung(users: dict[str, EvalUser], records: list[dict], rung: str) -> dict[str, list[dict]]:
    """user id → the scores of their items in this rung (users without the rung are left out)."""
    prior = rung_prior(records, rung)
    out = {}
    for record in records:
        answers = {a["id"]: a for a in record["rungs"].get(rung, {}).get("items", [])}
        user = users[record["user_id"]]
        if answers and all(i.id in answers for i in user.test):
            out[user.user_id] = [score_item(i, answers[i.id], prior) for i in user.test]
    return out


def values(scored: dict[str, list[dict]], key: str) -> dict[str, list[float]]:
    return {u: [float(s[key]) for s in items] for u, items in scored.items()}


def baseline_errors(users: dict[str, EvalUser], name: str, only: set[str] | None = None) -> dict[str, list[float]]:
    """user id → absolute errors of a model-free baseline on their test ratings."""
    return {u.user_id: [abs(i.attributes["baselines"][name] - float(i.ground_truth)) for i in u.test]
            for u in users.values() if only is None or u.user_id in only}


def baseline_predictions(users: dict[str, EvalUser], name: str) -> dict[str, list[float]]:
    return {u.user_id: [i.attributes["baselines"][name] for i in u.test] for u in users.values()}
