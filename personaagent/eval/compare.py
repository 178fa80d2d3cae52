"""Paired comparisons on the same items: each difference with its bootstrap interval over users,
an exact test and the reading the report states (``stats.verdict``). Rung against rung, the best
rung against the model-free rating baselines, and a rung against the same rung of another run."""

from __future__ import annotations

from itertools import combinations
from typing import Any

from . import scoring, stats
from .types import EvalUser


def paired(kind: str, a: dict[str, list[dict]], b: dict[str, list[dict]], first: str, second: str,
           loss: str = "auto") -> dict[str, Any]:
    """``first`` against ``second`` on the users both have: the primary metric's paired
    difference with its interval, an exact test, and the difference in the continuous measure that
    matches the optimizer's loss ``loss`` (``scoring.continuous_measure``)."""
    shared = sorted(set(a) & set(b))
    a, b = {u: a[u] for u in shared}, {u: b[u] for u in shared}
    key, label, _ = scoring.continuous_measure(kind, loss)
    continuous = {"metric": label, **stats.paired_difference(scoring.values(a, key), scoring.values(b, key))}
    if kind == "rating":
        primary = stats.paired_difference(scoring.values(a, "error"), scoring.values(b, "error"))
        diffs = [x - y for u in shared for x, y in zip(scoring.values(a, "error")[u], scoring.values(b, "error")[u])]
        out = {"metric": "MAE", **primary, "test": "sign", **stats.sign_test(diffs), "continuous": continuous}
        out["verdict"] = stats.verdict(out["delta"], out["ci95"], True, first, second)
        return out | {"users": len(shared)}
    primary = stats.paired_difference(scoring.values(a, "right"), scoring.values(b, "right"))
    right_a = [s["right"] for u in shared for s in a[u]]
    right_b = [s["right"] for u in shared for s in b[u]]
    out = {"metric": "accuracy", **primary, "test": "McNemar exact", **stats.mcnemar_exact(right_a, right_b),
           "continuous": continuous,
           "debiased": {"metric": "accuracy after dividing out the letter prior", **stats.paired_difference(
               scoring.values(a, "right_debiased"), scoring.values(b, "right_debiased"))}}
    out["verdict"] = stats.verdict(out["delta"], out["ci95"], False, first, second)
    return out | {"users": len(shared)}


def between_rungs(kind: str, scored: dict[str, dict], order: tuple[str, ...], loss: str = "auto") -> dict[str, Any]:
    """Every later rung (in ``order``) against every earlier one."""
    return {f"{b} vs {a}": paired(kind, scored[b], scored[a], b, a, loss)
            for a, b in combinations([r for r in order if r in scored], 2)}


def mae_pair(first: str, errors: dict[str, list[float]], second: str, reference: dict[str, list[float]]) -> dict[str, Any]:
    """The MAE of ``errors`` against that of ``reference`` (same users, items in the same order)."""
    pair = stats.paired_difference(errors, reference)
    diffs = [x - y for u in reference for x, y in zip(errors[u], reference[u])]
    return {"metric": "MAE", **pair, "test": "sign", **stats.sign_test(diffs),
            "verdict": stats.verdict(pair["delta"], pair["ci95"], True, first, second)}


def against_baselines(users: dict[str, EvalUser], scored: dict[str, dict], table: dict) -> dict[str, Any]:
    """The best rung against the model-free rating baselines (same items, paired by user), and
    the bias baseline against the user mean: how far the classic method that knows the items'
    ratings by others gets past the user mean on these items (the resolution of the target)."""
    best = min((r for r in scored if scored[r]), key=lambda r: table[r]["MAE"])
    only = set(scored[best])
    rung_errors = scoring.values(scored[best], "error")
    out = {f"{best} vs {name}": mae_pair(best, rung_errors, name, scoring.baseline_errors(users, name, only))
           for name in ("user mean", "user median", "bias baseline")}
    if scored.get("neighbours"):  # a cold start: what borrowing adds beside the baselines
        seeded = set(scored["neighbours"])
        out |= {f"neighbours vs {name}": mae_pair("neighbours", scoring.values(scored["neighbours"], "error"), name,
                                                  scoring.baseline_errors(users, name, seeded))
                for name in ("user mean", "item mean", "bias baseline")}
    out["bias baseline vs user mean"] = mae_pair("bias baseline", scoring.baseline_errors(users, "bias baseline", only),
                                                 "user mean", scoring.baseline_errors(users, "user mean", only))
    return out


def versus(kind: str, by_id: dict[str, EvalUser], records: list[dict], scored: dict[str, dict],
           name: str, others: list[dict], loss: str = "auto") -> dict[str, Any]:
    """Each rung against the same rung of another run (``others``: an earlier optimizer, the same
    records at another distance …) on the users both have, for the rungs whose answers differ (a
    rung copied or reused from the other run is not compared)."""
    answers = lambda recs, rung: {r["user_id"]: r["rungs"][rung].get("items") for r in recs if rung in r["rungs"]}  # noqa: E731
    others = [r for r in others if r["user_id"] in by_id]
    out = {}
    for rung, mine in scored.items():
        theirs = scoring.score_rung(by_id, others, rung)
        ours, old = answers(records, rung), answers(others, rung)
        if theirs and any(ours[u] != old[u] for u in set(mine) & set(theirs)):
            label = f"{rung} ({name})"
            out[f"{rung} vs {label}"] = paired(kind, mine, theirs, rung, label, loss)
            moved = moved_most(by_id, set(mine) & set(theirs)) if kind == "rating" else []
            if len(moved) >= 2:
                out[f"{rung} vs {label}, {MOVED}"] = paired(kind, {u: mine[u] for u in moved},
                                                            {u: theirs[u] for u in moved}, rung, label, loss)
    return out


MOVED = "the third of users whose mean rating moved most"


def moved_most(by_id: dict[str, EvalUser], ids: set[str]) -> list[str]:
    """The third (rounded up) of ``ids`` whose mean rating moved most between the first and the
    second half of their history (in time order; an odd middle rating in neither half), most
    first, ties by id; users with fewer than 2 ratings are left out."""
    shifts = {}
    for uid in ids:
        values = [float(i.ground_truth) for i in sorted(by_id[uid].history, key=lambda i: i.timestamp)
                  if i.scale and i.ground_truth is not None]
        half = len(values) // 2
        if half:
            shifts[uid] = abs(sum(values[-half:]) / half - sum(values[:half]) / half)
    ranked = sorted(shifts, key=lambda u: (-shifts[u], u))
    return ranked[:-(-len(ranked) // 3)]
