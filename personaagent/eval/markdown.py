"""The Markdown text of an evaluation report, from the figures ``eval.summary`` computed: the
rung table, what each figure means, the paired comparisons, timings and what the optimizer did.
Nothing is computed here."""

from __future__ import annotations

from typing import Any

from ..answers.text import LETTERS
from .ladder import RUNGS

RUNG_LABELS = {"non_personalized": "non-personalized", "memory_only": "memory only",
               "persona": "persona (no alignment)", "neighbours": "persona + borrowed from similar users",
               "default": "default path (persona + what the user said)",
               "evidence": "persona + computed evidence",
               "catalogue": "evidence + item catalogue", "oracle": "persona + stated preference (oracle)",
               "full": "full (aligned)"}

RATING_NOTE = ("MAE uses the median of each answer's distribution, RMSE its mean; expected error is the mean "
               "absolute error under the distribution (the optimizer's loss by default); median error is the absolute "
               "error of the median before rounding to the scale's step (its loss with `--metric median`). An unread "
               "answer counts as the midpoint.")
OPTION_NOTE = ("Accuracy takes the most probable option; debiased divides out the rung's letter prior "
               "(estimated from answers under every rotation of the options, PriDe-style); p_right is the mean "
               "probability of the right option.")
BEYOND_NOTE = ("What a rung knows beyond the user's mean rating: Pearson's r of (predicted mean − user mean) "
               "against (rating − user mean), 95% bootstrap over users. An r near 0 means the rung's "
               "item-by-item departures from the user mean do not track the user's own: ")
LEVEL_NOTE = ("How far a rung follows each user's level: the slope of the user's mean prediction (distribution "
              "means) on their mean past rating, across users (1: as far as the user's level moves; 0: not at "
              "all), 95% bootstrap over users, and r: ")
CORRECTED_NOTE = ("With the level right: each answer's distribution reweighted by the user's own spread over the "
                  "scale (their past ratings) divided by the rung's mean distribution over the user's other test "
                  "items, then read by its median (a diagnostic, not a rung: it uses the model's answers to the "
                  "other items, never their ratings). What is left once the level is right is what the rung knows "
                  "about the items:")
PAIRED_NOTE = ("Each row: the first minus the second on the same items, with a 95% bootstrap interval over "
               "users; an interval containing 0 is no detectable difference. The continuous measure is read from the "
               "answer distributions and matches the optimizer's loss: for ratings the expected absolute error, or with "
               "`--metric median` the error of the unrounded median (lower is better); p(right option) for options "
               "(higher is better).")


def _cell(value: Any) -> str:
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, float) for v in value):
        return f"[{value[0]:.3f}, {value[1]:.3f}]"
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _difference(pair: dict[str, Any]) -> str:
    return f"{pair['delta']:+.3f} [{pair['ci95'][0]:+.3f}, {pair['ci95'][1]:+.3f}]"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
            + ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows])


def _rungs_labelled(report: dict[str, Any], key: str) -> dict[str, Any]:
    """rung label → the rung's figure ``key``, for the rungs that have it."""
    return {RUNG_LABELS[r]: row[key] for r, row in report["rungs"].items() if key in row}


def _header(report: dict[str, Any]) -> list[str]:
    return [f"# {report['title']}", "", f"Command: `{report['command']}`", "",
            f"Model: {report['model']}. Settings: {report['settings']}. Wall time: {report['wall_time']}. "
            f"Users finished: {report.get('finished_users', report['users'])}.", ""]


def _rung_table(report: dict[str, Any], rating: bool) -> list[str]:
    if rating:
        cols = ["MAE", "MAE_ci95", "RMSE", "expected_error", "median_error", "unparsed", "items", "users"]
    else:
        cols = ["accuracy", "accuracy_ci95", "accuracy_debiased", "p_right", "unparsed", "items", "users"]
    rows = [[RUNG_LABELS[r]] + [report["rungs"][r].get(c) for c in cols] for r in RUNGS if r in report["rungs"]]
    rows += [[f"baseline: {name}", row["MAE"], row["MAE_ci95"]] + [None] * (len(cols) - 2)
             for name, row in report.get("baselines", {}).items()]
    return (_table(["rung"] + [c.replace("_ci95", " 95% CI").replace("_", " ") for c in cols], rows)
            + ["", "Intervals: 95% bootstrap over users (2,000 resamples). " + (RATING_NOTE if rating else OPTION_NOTE)])


def _beyond_user_mean(report: dict[str, Any]) -> list[str]:
    signal = _rungs_labelled(report, "beyond_user_mean")
    signal |= {f"baseline {name}": row["beyond_user_mean"] for name, row in report.get("baselines", {}).items()
               if "beyond_user_mean" in row}
    if not signal:
        return []
    return ["", BEYOND_NOTE + "; ".join(f"{r} {v['r']:+.3f} [{v['ci95'][0]:+.3f}, {v['ci95'][1]:+.3f}]"
                                        for r, v in signal.items()) + "."]


def _follows_user_level(report: dict[str, Any]) -> list[str]:
    level = _rungs_labelled(report, "follows_user_level")
    if not level:
        return []
    return ["", LEVEL_NOTE + "; ".join(f"{r} {v['slope']:.2f} [{v['ci95'][0]:.2f}, {v['ci95'][1]:.2f}], r {v['r']:.2f}"
                                       for r, v in level.items()) + "."]


def _level_corrected(report: dict[str, Any]) -> list[str]:
    corrected = _rungs_labelled(report, "level_corrected")
    if not corrected:
        return []
    return ["", CORRECTED_NOTE, ""] + _table(
        ["rung", "MAE with the level corrected", "95% CI", "vs its own MAE", "vs user mean",
         "vs memory only, both corrected"],
        [[r, v["MAE"], v["ci95"], _difference(v["vs_uncorrected"]), _difference(v["vs_user_mean"]),
          _difference(v["vs_memory_only"]) if "vs_memory_only" in v else ""] for r, v in corrected.items()])


def _medians(report: dict[str, Any]) -> list[str]:
    return ["", "Answers by the median of their distribution (how many items): " + "; ".join(
        f"{r} " + ", ".join(f"{m:g}: {n}" for m, n in medians.items())
        for r, medians in _rungs_labelled(report, "medians").items()) + "."]


def _positions(report: dict[str, Any]) -> list[str]:
    if not any("by_position" in r for r in report["rungs"].values()):
        return []
    positions = sorted({p for r in report["rungs"].values() for p in r.get("by_position", {})})
    lines = ["", "Accuracy by the position of the right option (items):", ""]
    lines += _table(["rung"] + positions, [
        [RUNG_LABELS[r]] + [f"{row['by_position'][p]['accuracy']:.3f} ({row['by_position'][p]['items']})"
                            if p in row.get("by_position", {}) else "n/a" for p in positions]
        for r, row in report["rungs"].items()])
    if priors := _rungs_labelled(report, "letter_prior"):
        lines += ["", "Letter prior per rung: " + "; ".join(
            f"{r} " + ", ".join(f"{LETTERS[i]} {p:.2f}" for i, p in enumerate(v)) for r, v in priors.items())]
    return lines


READINGS_NOTE = ("Other readings of the same answers (each choice was answered under every cyclic order of its "
                 "options): the order given only (one call, as before the orders were read), two orders half the "
                 "options apart (the product's default, Context.option_orders), every order (the evaluation's "
                 "default; for a rung whose persona keeps what the user stated the answer as given is also weighed "
                 "by the check of each option against it, Context.check_options, so the readings are the answer "
                 "without that check), and the order given with the rung's letter prior divided out. Spread: highest "
                 "minus lowest accuracy over the positions of the right option. Paired: the reading minus the "
                 "answer as given, same items, 95% bootstrap over users.")


def _readings(report: dict[str, Any]) -> list[str]:
    rows = []
    for rung, row in report["rungs"].items():
        if "readings" not in row:
            continue
        spent = row.get("cost")
        rows.append([RUNG_LABELS[rung], "as answered", row["accuracy"], row["accuracy_ci95"], row["position_spread"],
                     "", f"{spent['calls_per_answer']:.1f} calls, {spent['seconds_per_answer']:.1f} s" if spent else ""])
        rows += [[RUNG_LABELS[rung], name, r["accuracy"], r["accuracy_ci95"], r["position_spread"],
                  _difference(r["vs_as_answered"]), ""] for name, r in row["readings"].items()]
    if not rows:
        return []
    return ["", "## Readings of the answers", "", READINGS_NOTE, ""] + _table(
        ["rung", "reading", "accuracy", "95% CI", "spread over positions", "vs as answered", "cost per answer"], rows)


def _statements(report: dict[str, Any]) -> list[str]:
    s = report.get("statements")
    if not s:
        return []
    return ["", f"What the user stated (the default path): {s['found_per_user']:.2f} statements found per user in "
            f"their history, {s['kept_per_user']:.2f} kept once later ones replaced earlier ones on the same subject; "
            f"{s['users_with_none']} of {s['users']} users had none kept. Finding them took {s['seconds_per_user']:.1f} s "
            f"per user ({s['sentences_asked']} sentences asked about in the run; a sentence asked once is not asked "
            "again)."]


def _neighbours(report: dict[str, Any]) -> list[str]:
    n = report.get("neighbours")
    if not n:
        return []
    alike = f", cosine {n['mean_similarity']:.3f} on average" if n["mean_similarity"] is not None else ""
    return ["", f"Borrowed from similar users (the neighbours rung): {n['found_per_user']:.2f} similar users found per "
            f"user{alike}; a section was borrowed for {n['borrowed']} of {n['users']} users (the others answered as the "
            "persona rung: fewer than 2 similar users, or nothing enough of them shared)."]


def _paired(report: dict[str, Any]) -> list[str]:
    rows = [[name, p["metric"], p["delta"], p["ci95"], f"{p['test']} p={p['p']:.3f}",
             _difference(p["continuous"]) if p.get("continuous") else "", p["verdict"]]
            for name, p in report["paired"].items()]
    measure = next((p["continuous"]["metric"] for p in report["paired"].values() if p.get("continuous")), "")
    return ["", "## Paired comparisons", "", PAIRED_NOTE, ""] + _table(
        ["comparison", "metric", "difference", "95% CI", "exact test", f"difference in {measure}", "reading"], rows)


def _timing(report: dict[str, Any]) -> list[str]:
    timing = report.get("timing", {})
    if not timing:
        return []
    return ["", "## Time", ""] + _table(["part", "mean s per user", "max s per user"],
                                        [[RUNG_LABELS.get(k, k), v["mean_s"], v["max_s"]] for k, v in timing.items()])


def _alignment(a: dict[str, Any]) -> list[str]:
    lines = ["", "## Alignment", "",
             f"{a['users_with_accepted_persona']} of {a['users_aligned']} aligned users got an accepted persona; "
             f"{a['model_calls']} optimizer model calls in all; stop reasons {a['stop_reasons']}. Where no candidate "
             f"was accepted, the full rung reuses that user's {a.get('reuses', 'persona')}-rung answers (same persona, "
             "temperature 0)."]
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
    return lines


def _failures(report: dict[str, Any]) -> list[str]:
    if not report.get("failed_users"):
        return []
    return ["", "Users whose evaluation failed (not in the table; rerun to retry):"] + [
        f"- {failure}" for failure in report["failed_users"]]


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown."""
    rating = report["kind"] == "rating"
    lines = _header(report) + _rung_table(report, rating) + _beyond_user_mean(report) + _follows_user_level(report)
    lines += _level_corrected(report)
    if rating:
        lines += _medians(report) + _neighbours(report)
    else:
        lines += _positions(report) + _readings(report) + _statements(report)
    lines += _paired(report) + _timing(report) + _alignment(report["alignment"]) + _failures(report)
    return "\n".join(lines) + "\n"
