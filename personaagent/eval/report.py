"""The report of an evaluation run: tables (JSON and Markdown) with 95% intervals, paired
comparisons between rungs and against the model-free baselines, timings, and PNG plots."""

from __future__ import annotations

import json
import math
from collections import Counter
from itertools import combinations
from pathlib import Path
from statistics import fmean
from typing import Any

from . import plots, scoring, stats
from .ladder import RUNGS
from .movielens import BASELINES
from .types import EvalUser

RUNG_LABELS = {"non_personalized": "non-personalized", "memory_only": "memory only",
               "persona": "persona (no alignment)", "evidence": "persona + computed evidence",
               "catalogue": "evidence + item catalogue", "oracle": "persona + stated preference (oracle)",
               "full": "full (aligned)"}
UNALIGNED = ("non_personalized", "memory_only", "persona")


def _metric_row(kind: str, scored: dict[str, list[dict]]) -> dict[str, Any]:
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
        row |= {"nll": fmean(s["nll"] for s in items), "by_position": scoring.by_position(scored)}
    return row


def _paired(kind: str, a: dict[str, list[dict]], b: dict[str, list[dict]], first: str, second: str,
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


def _mae_pair(first: str, errors: dict[str, list[float]], second: str, reference: dict[str, list[float]]) -> dict[str, Any]:
    pair = stats.paired_difference(errors, reference)
    diffs = [x - y for u in reference for x, y in zip(errors[u], reference[u])]
    return {"metric": "MAE", **pair, "test": "sign", **stats.sign_test(diffs),
            "verdict": stats.verdict(pair["delta"], pair["ci95"], True, first, second)}


def _baseline_pairs(users: dict[str, EvalUser], scored: dict[str, dict], table: dict) -> dict[str, Any]:
    """The best rung against the model-free rating baselines (same items, paired by user), and
    the bias baseline against the user mean: how far the classic method that knows the items'
    ratings by others gets past the user mean on these items (the resolution of the target)."""
    best = min((r for r in scored if scored[r]), key=lambda r: table[r]["MAE"])
    only = set(scored[best])
    rung_errors = scoring.values(scored[best], "error")
    out = {f"{best} vs {name}": _mae_pair(best, rung_errors, name, scoring.baseline_errors(users, name, only))
           for name in ("user mean", "user median", "bias baseline")}
    out["bias baseline vs user mean"] = _mae_pair("bias baseline", scoring.baseline_errors(users, "bias baseline", only),
                                                  "user mean", scoring.baseline_errors(users, "user mean", only))
    return out


def _beyond_user_mean(users: dict[str, EvalUser], predicted: dict[str, list[float]]) -> dict[str, Any] | None:
    """Pearson's r of (prediction − user mean) against (rating − user mean) with its interval over
    users; None where it is undefined (no user-mean baseline, or a side that never varies)."""
    pairs = scoring.beyond_user_mean(users, predicted)
    if not pairs:
        return None
    r, low, high = stats.bootstrap_correlation(pairs)
    return None if any(math.isnan(v) for v in (r, low, high)) else {"r": r, "ci95": [low, high]}


def _follows_user_level(users: dict[str, EvalUser], predicted: dict[str, list[float]]) -> dict[str, Any] | None:
    """The slope of each user's mean prediction on their mean rating, across users (1: the rung
    moves as far as the user's level does; 0: not at all), with its interval over users and r."""
    pairs = scoring.user_level(users, predicted)
    if len(pairs) < 3:
        return None
    value, low, high = stats.bootstrap_pairs(pairs, stats.slope)
    r = stats.pearson([p for v in pairs.values() for p in v])
    return None if any(math.isnan(v) for v in (value, low, high, r)) else {"slope": value, "ci95": [low, high], "r": r}


def _level_corrected(users: dict[str, EvalUser], records: list[dict], scored: dict[str, dict]) -> dict[str, dict]:
    """Each rung's MAE once its level is replaced by the user's (``scoring.level_corrected``),
    paired with its own MAE, the user-mean baseline's, and memory only's with the level corrected too
    (what a rung knows about the items beyond the level that memory only does not)."""
    errors = {}
    for rung in scored:
        corrected = scoring.level_corrected(users, records, rung)
        if corrected and all("user mean" in i.attributes.get("baselines", {}) for u in corrected for i in users[u].test):
            errors[rung] = {u: [abs(p - float(i.ground_truth)) for p, i in zip(corrected[u], users[u].test)]
                            for u in corrected}
    out = {}
    for rung, mine in errors.items():
        mae, low, high = stats.bootstrap_mean(mine)
        own = scoring.values(scored[rung], "error")
        row = {"MAE": mae, "ci95": [low, high], "users": len(mine),
               "vs_uncorrected": _mae_pair("corrected", mine, "uncorrected", {u: own[u] for u in mine}),
               "vs_user_mean": _mae_pair("corrected", mine, "user mean",
                                         scoring.baseline_errors(users, "user mean", set(mine)))}
        if rung != "memory_only" and "memory_only" in errors:
            shared = set(mine) & set(errors["memory_only"])
            row["vs_memory_only"] = _mae_pair(rung, {u: mine[u] for u in shared}, "memory_only",
                                              {u: errors["memory_only"][u] for u in shared})
        out[rung] = row
    return out


def _versus(kind: str, by_id: dict[str, EvalUser], records: list[dict], scored: dict[str, dict],
            name: str, others: list[dict], loss: str = "auto") -> dict[str, Any]:
    """Each rung against the same rung of another run (``others``, e.g. an earlier optimizer) on
    the users both have, for the rungs whose answers were produced differently (their keys differ)."""
    key = lambda recs, rung: {r["user_id"]: r["rungs"][rung].get("key") for r in recs if rung in r["rungs"]}  # noqa: E731
    others = [r for r in others if r["user_id"] in by_id]
    out = {}
    for rung, mine in scored.items():
        theirs = scoring.score_rung(by_id, others, rung)
        ours, old = key(records, rung), key(others, rung)
        if theirs and any(ours[u] != old[u] for u in set(mine) & set(theirs)):
            label = f"{rung} ({name})"
            out[f"{rung} vs {label}"] = _paired(kind, mine, theirs, rung, label, loss)
    return out


def _timing(records: list[dict]) -> dict[str, Any]:
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


def build_report(users: list[EvalUser], records: list[dict], meta: dict[str, Any], out_dir: Path,
                 versus: tuple[str, list[dict]] | None = None) -> dict[str, Any]:
    """The report over ``records``; ``versus``: another run's name and records, compared rung by
    rung where they were produced differently."""
    out_dir.mkdir(parents=True, exist_ok=True)
    by_id = {u.user_id: u for u in users}
    records = [r for r in records if r["user_id"] in by_id]
    kind = scoring.kind_of(users)
    loss = meta.get("optimizer_loss", "auto")
    scored = {rung: scoring.score_rung(by_id, records, rung) for rung in RUNGS}
    scored = {rung: s for rung, s in scored.items() if s}
    table = {rung: _metric_row(kind, s) for rung, s in scored.items()}
    for rung in table:
        if prior := scoring.rung_prior(records, rung):
            table[rung]["letter_prior"] = prior
        if kind == "rating" and (signal := _beyond_user_mean(by_id, scoring.values(scored[rung], "mean"))):
            table[rung]["beyond_user_mean"] = signal
        if kind == "rating" and (level := _follows_user_level(by_id, scoring.values(scored[rung], "mean"))):
            table[rung]["follows_user_level"] = level
    if kind == "rating":
        for rung, corrected in _level_corrected(by_id, records, scored).items():
            table[rung]["level_corrected"] = corrected
    report: dict[str, Any] = {**meta, "kind": kind, "rungs": table, "users": len(records),
                              "paired": {f"{b} vs {a}": _paired(kind, scored[b], scored[a], b, a, loss)
                                         for a, b in combinations([r for r in RUNGS if r in scored], 2)},
                              "timing": _timing(records)}
    if kind == "rating" and scored:
        with_items = {u.user_id: u for u in users if u.user_id in {r["user_id"] for r in records}}
        report["baselines"] = {}
        for name in BASELINES:
            mae, low, high = stats.bootstrap_mean(scoring.baseline_errors(with_items, name))
            report["baselines"][name] = {"MAE": mae, "MAE_ci95": [low, high]}
            if name != "user mean" and (signal := _beyond_user_mean(with_items, scoring.baseline_predictions(with_items, name))):
                report["baselines"][name]["beyond_user_mean"] = signal
        report["paired"] |= _baseline_pairs(with_items, scored, table)
    if versus:
        report["paired"] |= _versus(kind, by_id, records, scored, *versus, loss)
    report["alignment"] = alignment_summary([r for r in records if "optimization" in r])
    if transfer := _transfer(kind, records, scored, loss):
        report["alignment"]["transfer"] = transfer
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (out_dir / "report.md").write_text(markdown(report))
    _plots(users, records, report, out_dir)
    return report


def alignment_summary(aligned: list[dict]) -> dict[str, Any]:
    """What the optimizer did across users: how many got an accepted persona, which operators
    produced the candidates and the accepted ones, whether accepted ones gained on the validation
    window, how often a candidate that gained on the batch was still rejected, change sizes."""
    pool = [c for r in aligned for c in r["optimization"].get("pool", [])]
    accepted = [c for c in pool if c["accepted"]]
    count = lambda items: dict(sorted(Counter(c["operator"] for c in items).items()))  # noqa: E731
    return {
        "users_aligned": len(aligned),
        "users_with_accepted_persona": sum(1 for r in aligned if r["optimization"].get("accepted")),
        "candidates": len(pool), "candidates_by_operator": count(pool),
        "accepted_by_operator": count(accepted),
        "accepted_by_iteration": dict(sorted(Counter(c["iteration"] for c in accepted).items())),
        "loss_decrease_by_iteration": _decrease_by_iteration(aligned),
        "accepted_with_validation_gain": sum(1 for c in accepted if (c.get("validation_improvement") or 0) > 0),
        "accepted_with_validation": sum(1 for c in accepted if c.get("validation_improvement") is not None),
        "rejected_despite_batch_gain": sum(1 for c in pool if not c["accepted"] and (c.get("batch_improvement") or 0) > 0),
        "mean_accepted_change_chars": fmean(c["change"] for c in accepted) if accepted else None,
        "stop_reasons": dict(sorted(Counter(r["optimization"].get("stop_reason") for r in aligned).items())),
        "model_calls": sum(r["optimization"].get("model_calls", 0) for r in aligned)}


def _decrease_by_iteration(aligned: list[dict]) -> dict[int, float]:
    """iteration → how much the loss fell in it, summed over users (0 where nothing was accepted)."""
    out: Counter = Counter()
    for record in aligned:
        curve = record["optimization"].get("loss_curve", [])
        for before, after in zip(curve, curve[1:]):
            out[after["iteration"]] += before["loss"] - after["loss"]
    return dict(sorted(out.items()))


def _transfer(kind: str, records: list[dict], scored: dict[str, dict], loss: str = "auto") -> dict[str, Any] | None:
    """Whether what the optimizer gained on its own samples carries over to the test items, for the
    users with an accepted persona: their loss gain on the samples it critiqued and selected on
    (initial − best loss), beside the test gain of the full rung over the persona rung in the same
    continuous measure (positive is better for both), with intervals over users, how many users
    gained or lost on test, and Pearson's r of the two across users. None without such users."""
    if "full" not in scored or "persona" not in scored:
        return None
    measure, label, better = scoring.continuous_measure(kind, loss)
    full, persona = scoring.values(scored["full"], measure), scoring.values(scored["persona"], measure)
    own, test = {}, {}
    for record in records:
        user, run = record["user_id"], record.get("optimization", {})
        if run.get("accepted") and user in full and user in persona and "best_loss" in run:
            own[user] = [run["initial_loss"] - run["best_loss"]]
            test[user] = [better * (fmean(full[user]) - fmean(persona[user]))]
    if len(own) < 2:
        return None
    own_mean, own_low, own_high = stats.bootstrap_mean(own)
    test_mean, test_low, test_high = stats.bootstrap_mean(test)
    r = stats.pearson([(own[u][0], test[u][0]) for u in own])
    return {"users": len(own), "measure": label, "own_gain": own_mean, "own_gain_ci95": [own_low, own_high],
            "test_gain": test_mean, "test_gain_ci95": [test_low, test_high],
            "test_gained": sum(v[0] > 0 for v in test.values()), "test_lost": sum(v[0] < 0 for v in test.values()),
            "r": None if math.isnan(r) else r}


def _cell(value: Any) -> str:
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, float) for v in value):
        return f"[{value[0]:.3f}, {value[1]:.3f}]"
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _difference(pair: dict[str, Any]) -> str:
    return f"{pair['delta']:+.3f} [{pair['ci95'][0]:+.3f}, {pair['ci95'][1]:+.3f}]"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
            + ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows])


def markdown(report: dict[str, Any]) -> str:
    rating = report["kind"] == "rating"
    lines = [f"# {report['title']}", "", f"Command: `{report['command']}`", "",
             f"Model: {report['model']}. Settings: {report['settings']}. Wall time: {report['wall_time']}. "
             f"Users finished: {report.get('finished_users', report['users'])}.", ""]
    if rating:
        cols = ["MAE", "MAE_ci95", "RMSE", "expected_error", "median_error", "unparsed", "items", "users"]
    else:
        cols = ["accuracy", "accuracy_ci95", "accuracy_debiased", "p_right", "unparsed", "items", "users"]
    rows = [[RUNG_LABELS[r]] + [report["rungs"][r].get(c) for c in cols] for r in RUNGS if r in report["rungs"]]
    rows += [[f"baseline: {name}", row["MAE"], row["MAE_ci95"]] + [None] * (len(cols) - 2)
             for name, row in report.get("baselines", {}).items()]
    lines += _table(["rung"] + [c.replace("_ci95", " 95% CI").replace("_", " ") for c in cols], rows)
    lines += ["", "Intervals: 95% bootstrap over users (2,000 resamples). " + (
        "MAE uses the median of each answer's distribution, RMSE its mean; expected error is the mean "
        "absolute error under the distribution (the optimizer's loss by default); median error is the absolute "
        "error of the median before rounding to the scale's step (its loss with `--metric median`). An unread answer "
        "counts as the midpoint."
        if rating else "Accuracy takes the most probable option; debiased divides out the rung's letter prior "
        "(estimated from answers under every rotation of the options, PriDe-style); p_right is the mean "
        "probability of the right option.")]
    signal = {RUNG_LABELS[r]: row["beyond_user_mean"] for r, row in report["rungs"].items() if "beyond_user_mean" in row}
    signal |= {f"baseline {name}": row["beyond_user_mean"] for name, row in report.get("baselines", {}).items()
               if "beyond_user_mean" in row}
    if signal:
        lines += ["", "What a rung knows beyond the user's mean rating: Pearson's r of (predicted mean − user mean) "
                  "against (rating − user mean), 95% bootstrap over users. An r near 0 means the rung's "
                  "item-by-item departures from the user mean do not track the user's own: "
                  + "; ".join(f"{r} {v['r']:+.3f} [{v['ci95'][0]:+.3f}, {v['ci95'][1]:+.3f}]"
                              for r, v in signal.items()) + "."]
    level = {RUNG_LABELS[r]: row["follows_user_level"] for r, row in report["rungs"].items() if "follows_user_level" in row}
    if level:
        lines += ["", "How far a rung follows each user's level: the slope of the user's mean prediction (distribution "
                  "means) on their mean past rating, across users (1: as far as the user's level moves; 0: not at "
                  "all), 95% bootstrap over users, and r: " + "; ".join(
                      f"{r} {v['slope']:.2f} [{v['ci95'][0]:.2f}, {v['ci95'][1]:.2f}], r {v['r']:.2f}"
                      for r, v in level.items()) + "."]
    corrected = {RUNG_LABELS[r]: row["level_corrected"] for r, row in report["rungs"].items() if "level_corrected" in row}
    if corrected:
        lines += ["", "With the level right: each answer's distribution reweighted by the user's own spread over the "
                  "scale (their past ratings) divided by the rung's mean distribution over the user's other test "
                  "items, then read by its median (a diagnostic, not a rung: it uses the model's answers to the "
                  "other items, never their ratings). What is left once the level is right is what the rung knows "
                  "about the items:", ""]
        lines += _table(["rung", "MAE with the level corrected", "95% CI", "vs its own MAE", "vs user mean",
                         "vs memory only, both corrected"], [
            [r, v["MAE"], v["ci95"], _difference(v["vs_uncorrected"]), _difference(v["vs_user_mean"]),
             _difference(v["vs_memory_only"]) if "vs_memory_only" in v else ""] for r, v in corrected.items()])
    if rating:
        lines += ["", "Answers by the median of their distribution (how many items): " + "; ".join(
            f"{RUNG_LABELS[r]} " + ", ".join(f"{m:g}: {n}" for m, n in row["medians"].items())
            for r, row in report["rungs"].items() if "medians" in row) + "."]
    if not rating and any("by_position" in r for r in report["rungs"].values()):
        positions = sorted({p for r in report["rungs"].values() for p in r.get("by_position", {})})
        lines += ["", "Accuracy by the position of the right option (items):", ""]
        lines += _table(["rung"] + positions, [
            [RUNG_LABELS[r]] + [f"{row['by_position'][p]['accuracy']:.3f} ({row['by_position'][p]['items']})"
                                if p in row.get("by_position", {}) else "n/a" for p in positions]
            for r, row in report["rungs"].items()])
        priors = {r: row["letter_prior"] for r, row in report["rungs"].items() if "letter_prior" in row}
        if priors:
            lines += ["", "Letter prior per rung: " + "; ".join(
                f"{RUNG_LABELS[r]} " + ", ".join(f"{scoring.LETTERS[i]} {p:.2f}" for i, p in enumerate(v))
                for r, v in priors.items())]
    lines += ["", "## Paired comparisons", "",
              "Each row: the first minus the second on the same items, with a 95% bootstrap interval over "
              "users; an interval containing 0 is no detectable difference. The continuous measure is read from the "
              "answer distributions and matches the optimizer's loss: for ratings the expected absolute error, or with "
              "`--metric median` the error of the unrounded median (lower is better); p(right option) for options "
              "(higher is better).", ""]
    rows = []
    for name, p in report["paired"].items():
        test = f"{p['test']} p={p['p']:.3f}"
        cont = p.get("continuous")
        rows.append([name, p["metric"], p["delta"], p["ci95"], test,
                     _difference(cont) if cont else "",
                     p["verdict"]])
    measure = next((p["continuous"]["metric"] for p in report["paired"].values() if p.get("continuous")), "")
    lines += _table(["comparison", "metric", "difference", "95% CI", "exact test", f"difference in {measure}", "reading"],
                    rows)
    timing = report.get("timing", {})
    if timing:
        lines += ["", "## Time", ""]
        lines += _table(["part", "mean s per user", "max s per user"],
                        [[RUNG_LABELS.get(k, k), v["mean_s"], v["max_s"]] for k, v in timing.items()])
    a = report["alignment"]
    lines += ["", "## Alignment", "",
              f"{a['users_with_accepted_persona']} of {a['users_aligned']} aligned users got an accepted persona; "
              f"{a['model_calls']} optimizer model calls in all; stop reasons {a['stop_reasons']}. Where no candidate "
              "was accepted, the full rung reuses that user's persona-rung answers (same persona, temperature 0)."]
    if a["candidates"]:
        lines += [f"Candidates proposed, by operator: {a['candidates_by_operator']}; accepted: {a['accepted_by_operator']}. "
                  f"Accepted candidates that also gained on the validation window: {a['accepted_with_validation_gain']} "
                  f"of {a['accepted_with_validation']} judged on one. Candidates rejected although they gained on the "
                  f"batch: {a['rejected_despite_batch_gain']}. Mean size of an accepted change: "
                  f"{_cell(a['mean_accepted_change_chars'])} characters."]
        lines += [f"Accepted candidates by iteration: {a['accepted_by_iteration']}; the loss fell, summed over users, by "
                  + ", ".join(f"{v:.3f} in iteration {k}" for k, v in a["loss_decrease_by_iteration"].items()) + "."]
    if t := a.get("transfer"):
        lines += ["", f"Does the gain carry over to the test items? For the {t['users']} users with an accepted persona, "
                  f"the loss fell by {t['own_gain']:.3f} {_cell(t['own_gain_ci95'])} on the samples the optimizer "
                  f"critiqued and selected on; on their test items the full rung beat the persona rung by "
                  f"{t['test_gain']:+.3f} {_cell(t['test_gain_ci95'])} in {t['measure']} "
                  f"(sign turned so that positive is better; {t['test_gained']} users gained, {t['test_lost']} lost). "
                  f"Across users the two go together with r = {_cell(t['r'])}."]
    if report.get("failed_users"):
        lines += ["", "Users whose evaluation failed (not in the table; rerun to retry):"]
        lines += [f"- {failure}" for failure in report["failed_users"]]
    return "\n".join(lines) + "\n"


def _plots(users: list[EvalUser], records: list[dict], report: dict, out_dir: Path) -> None:
    rating = report["kind"] == "rating"
    metric = "MAE" if rating else "accuracy"
    rungs = [r for r in RUNGS if r in report["rungs"]]
    rows = [report["rungs"][r] for r in rungs]
    references = {name: row["MAE"] for name, row in report.get("baselines", {}).items()}
    if report["kind"] == "choice" and users and users[0].test[0].options:
        references["chance"] = 1 / len(users[0].test[0].options)
    plots.plot_metric_per_rung([RUNG_LABELS[r] for r in rungs], [row[metric] for row in rows],
                               out_dir / "metric_per_rung.png", metric=metric, title=report["title"],
                               counts=[row["items"] for row in rows], intervals=[row[f"{metric}_ci95"] for row in rows],
                               references=references)
    plots.plot_loss_curves({r["user_id"]: [p["loss"] for p in r["optimization"]["loss_curve"]]
                            for r in records if r.get("optimization", {}).get("loss_curve")},
                           out_dir / "loss_curves.png", title=f"{report['title']}: optimizer loss per user")
    plots.plot_candidates([c for r in records for c in r.get("optimization", {}).get("pool", [])],
                          out_dir / "candidates.png", title=f"{report['title']}: candidates per iteration")
    attribute = {u.user_id: u.attribute for u in users}
    with_vector = [r for r in records if r.get("persona_vector")]
    if with_vector:
        plots.plot_persona_map([r["user_id"] for r in with_vector], [r["persona_vector"] for r in with_vector],
                               [attribute[r["user_id"]] for r in with_vector], out_dir / "persona_map.png",
                               title=f"{report['title']}: personas (MiniLM, PCA)")
