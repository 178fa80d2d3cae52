"""The figures of an evaluation run's report, computed from the records and the dataset (no
files, no prose): a row per rung with its interval, the model-free baselines, the paired
comparisons, timings and what the optimizer did. ``eval.markdown`` renders them."""

from __future__ import annotations

import math
from collections import Counter
from statistics import fmean
from typing import Any

from ..answers.text import LETTERS
from . import compare, level, scoring, stats
from .alignment import alignment_summary, transfer
from .ladder import RUNGS
from .movielens import BASELINES
from .types import EvalUser

UNALIGNED = ("non_personalized", "memory_only", "persona")


def by_position(scored: dict[str, list[dict]], right=lambda s: s["right"]) -> dict[str, dict[str, float]]:
    """Accuracy when the right option is A, B, C, …: how much the letter decides."""
    rows: dict[int, list[bool]] = {}
    for items in scored.values():
        for s in items:
            if "position" in s:
                rows.setdefault(s["position"], []).append(right(s))
    return {LETTERS[p]: {"accuracy": fmean(v), "items": len(v)} for p, v in sorted(rows.items())}


def spread(positions: dict[str, dict[str, float]]) -> float:
    """Highest minus lowest accuracy over the positions of the right option."""
    accuracies = [row["accuracy"] for row in positions.values()]
    return max(accuracies) - min(accuracies)


def readings(scored: dict[str, list[dict]]) -> dict[str, dict[str, Any]]:
    """Each other reading of the rung's answers (``scoring.readings``): its accuracy with the
    interval, by position with the spread, and paired with the answers as given (same items)."""
    names = [name for name in scoring.READINGS
             if scored and all(name in s.get("readings", {}) for items in scored.values() for s in items)]
    out = {}
    for name in names:
        right = {u: [float(s["readings"][name]) for s in items] for u, items in scored.items()}
        accuracy, low, high = stats.bootstrap_mean(right)
        positions = by_position(scored, lambda s: s["readings"][name])
        out[name] = {"accuracy": accuracy, "accuracy_ci95": [low, high], "by_position": positions,
                     "position_spread": spread(positions),
                     "vs_as_answered": stats.paired_difference(right, scoring.values(scored, "right"))}
    return out


def cost(records: list[dict], rung: str) -> dict[str, float] | None:
    """Model calls and seconds per answer of a rung (where its answers recorded their calls)."""
    answers = [a for rec in records for a in rec["rungs"].get(rung, {}).get("items", [])]
    seconds = [rec["rungs"][rung]["seconds"] / len(rec["rungs"][rung]["items"]) for rec in records
               if rec["rungs"].get(rung, {}).get("items") and "same_as" not in rec["rungs"][rung]]
    if not answers or not all("calls" in a for a in answers) or not seconds:
        return None
    return {"calls_per_answer": fmean(a["calls"] for a in answers), "seconds_per_answer": fmean(seconds)}


def metric_row(kind: str, scored: dict[str, list[dict]]) -> dict[str, Any]:
    """One rung's row: its primary metric (MAE or accuracy) with its interval over users, and the
    other figures of its items."""
    items = [s for v in scored.values() for s in v]
    row: dict[str, Any] = {"items": len(items), "users": len(scored), "unparsed": sum(s["unparsed"] for s in items)}
    if kind == "rating":
        mae, low, high = stats.bootstrap_mean(scoring.values(scored, "error"))
        return row | {"MAE": mae, "MAE_ci95": [low, high], "RMSE": math.sqrt(fmean(s["sq_error"] for s in items)),
                      "expected_error": fmean(s["expected_error"] for s in items),
                      "median_error": fmean(s["median_error"] for s in items),
                      "medians": dict(sorted(Counter(s["median"] for s in items).items()))}
    accuracy, low, high = stats.bootstrap_mean(scoring.values(scored, "right"))
    row |= {"accuracy": accuracy, "accuracy_ci95": [low, high],
            "accuracy_debiased": fmean(s["right_debiased"] for s in items),
            "p_right": fmean(s["p_right"] for s in items)}
    if kind == "choice":
        row |= {"nll": fmean(s["nll"] for s in items), "by_position": by_position(scored)}
        if other := readings(scored):
            row |= {"position_spread": spread(row["by_position"]), "readings": other}
    return row


def rung_table(kind: str, by_id: dict[str, EvalUser], records: list[dict], scored: dict[str, dict]) -> dict[str, dict]:
    """rung → its row, with its letter prior where it was estimated and, for ratings, what it
    knows about the user's level and beyond it (``eval.level``)."""
    table = {rung: metric_row(kind, s) for rung, s in scored.items()}
    for rung in table:
        if prior := scoring.rung_prior(records, rung):
            table[rung]["letter_prior"] = prior
        if spent := cost(records, rung):
            table[rung]["cost"] = spent
        if kind == "rating" and (signal := level.beyond_user_mean(by_id, scoring.values(scored[rung], "mean"))):
            table[rung]["beyond_user_mean"] = signal
        if kind == "rating" and (follows := level.follows_user_level(by_id, scoring.values(scored[rung], "mean"))):
            table[rung]["follows_user_level"] = follows
    if kind == "rating":
        for rung, corrected in level.level_corrected(by_id, records, scored).items():
            table[rung]["level_corrected"] = corrected
    return table


def baselines(users: dict[str, EvalUser]) -> dict[str, dict]:
    """The model-free rating baselines' MAE with its interval, and what each but the user mean
    knows beyond the user mean."""
    out = {}
    for name in BASELINES:
        mae, low, high = stats.bootstrap_mean(scoring.baseline_errors(users, name))
        out[name] = {"MAE": mae, "MAE_ci95": [low, high]}
        if name != "user mean" and (signal := level.beyond_user_mean(users, scoring.baseline_predictions(users, name))):
            out[name]["beyond_user_mean"] = signal
    return out


def timing(records: list[dict]) -> dict[str, Any]:
    """Seconds per user: each rung, the rungs without alignment together, and alignment."""
    per_rung = {r: [rec["rungs"][r]["seconds"] for rec in records if r in rec["rungs"]] for r in RUNGS}
    out: dict[str, Any] = {r: {"mean_s": fmean(v), "max_s": max(v)} for r, v in per_rung.items() if v}
    unaligned = [sum(rec["rungs"][r]["seconds"] for r in UNALIGNED if r in rec["rungs"]) + rec.get("profile_seconds", 0)
                 for rec in records if all(r in rec["rungs"] for r in UNALIGNED)]
    if unaligned:
        out["three rungs without alignment, per user"] = {"mean_s": fmean(unaligned), "max_s": max(unaligned)}
    aligning = [rec["optimization"]["seconds"] for rec in records if "seconds" in rec.get("optimization", {})]
    if aligning:
        out["alignment, per user"] = {"mean_s": fmean(aligning), "max_s": max(aligning)}
    return out


def statements_summary(records: list[dict]) -> dict[str, Any] | None:
    """What the default path found in the users' histories: statements per user (found, and kept
    once later ones on the same subject replaced earlier ones), and what finding them cost."""
    found = [r["statements"] for r in records if "statements" in r]
    if not found:
        return None
    return {"users": len(found), "found_per_user": fmean(s["found"] for s in found),
            "kept_per_user": fmean(s["kept"] for s in found),
            "users_with_none": sum(1 for s in found if not s["kept"]),
            "seconds_per_user": fmean(s["seconds"] for s in found),
            "sentences_asked": sum(s.get("new_sentences_asked", 0) for s in found)}


def neighbours_summary(records: list[dict]) -> dict[str, Any] | None:
    """What the neighbours rung borrowed: for how many users a section was borrowed, and how many
    similar users were found per user and how alike they were (cosine of first interactions)."""
    found = [r["neighbours"] for r in records if "neighbours" in r]
    if not found:
        return None
    similarity = [s for f in found for s in f["similarity"]]
    return {"users": len(found), "borrowed": sum(1 for f in found if f["borrowed"]),
            "found_per_user": fmean(f["found"] for f in found),
            "mean_similarity": fmean(similarity) if similarity else None}


def summarise(users: list[EvalUser], records: list[dict], meta: dict[str, Any],
              versus: tuple[str, list[dict]] | None = None) -> dict[str, Any]:
    """The report's figures over ``records`` (those of ``users``), after ``meta``; ``versus``:
    another run's name and records, compared rung by rung where their answers differ."""
    by_id = {u.user_id: u for u in users}
    records = [r for r in records if r["user_id"] in by_id]
    kind = scoring.kind_of(users)
    loss = meta.get("optimizer_loss", "auto")
    scored = {rung: scoring.score_rung(by_id, records, rung) for rung in RUNGS}
    scored = {rung: s for rung, s in scored.items() if s}
    table = rung_table(kind, by_id, records, scored)
    report: dict[str, Any] = {**meta, "kind": kind, "rungs": table, "users": len(records),
                              "paired": compare.between_rungs(kind, scored, RUNGS, loss), "timing": timing(records)}
    if kind == "rating" and scored:
        with_items = {u.user_id: u for u in users if u.user_id in {r["user_id"] for r in records}}
        report["baselines"] = baselines(with_items)
        report["paired"] |= compare.against_baselines(with_items, scored, table)
    if versus:
        report["paired"] |= compare.versus(kind, by_id, records, scored, *versus, loss)
    if told := statements_summary(records):
        report["statements"] = told
    if seeded := neighbours_summary(records):
        report["neighbours"] = seeded
    report["alignment"] = alignment_summary([r for r in records if "optimization" in r])
    if gain := transfer(kind, records, scored, loss):
        report["alignment"]["transfer"] = gain
    return report
