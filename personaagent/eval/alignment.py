"""What the optimizer did in an evaluation run, across users: candidates and acceptances by operator
and iteration, stop reasons, and whether its gain on its own samples carried over to the test
items (with intervals over users)."""

from __future__ import annotations

import math
from collections import Counter
from statistics import fmean
from typing import Any

from . import scoring, stats


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
        "model_calls": sum(r["optimization"].get("model_calls", 0) for r in aligned)} | _reuses(aligned)


def _reuses(aligned: list[dict]) -> dict[str, str]:
    """The rung whose answers the full rung reuses where nothing was accepted, when it is not the
    persona rung (the default rung, once the persona keeps what the user stated)."""
    reused = {r["rungs"]["full"].get("same_as") for r in aligned if "full" in r.get("rungs", {})} - {None, "persona"}
    return {"reuses": min(reused)} if reused else {}


def _decrease_by_iteration(aligned: list[dict]) -> dict[int, float]:
    """iteration → how much the loss fell in it, summed over users (0 where nothing was accepted)."""
    out: Counter = Counter()
    for record in aligned:
        curve = record["optimization"].get("loss_curve", [])
        for before, after in zip(curve, curve[1:]):
            out[after["iteration"]] += before["loss"] - after["loss"]
    return dict(sorted(out.items()))


def transfer(kind: str, records: list[dict], scored: dict[str, dict], loss: str = "auto") -> dict[str, Any] | None:
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
