"""The recency evaluation: users whose evaluated ratings span a long time, every rung but the bare
model weighted by recency, and the weighted run against the unweighted one, overall and on the
users whose mean rating moved most."""

import json
from pathlib import Path

import pytest

from personaagent.eval.compare import MOVED, moved_most
from personaagent.eval.ladder import LadderSettings
from personaagent.eval.movielens import load_movielens
from personaagent.eval.run import run_eval
from personaagent.memory import MemoryStore
from personaagent.resources import Resources
from personaagent.testing import HashEmbeddingFunction, ScriptedChatModel, distribution_reply, persona_agent_script

DAY = 86_400


def _write(root: Path, flips: dict[int, tuple[float, float]]) -> None:
    """Users rating 20 movies one every 30 days: the first 10 at one value, the next 10 at another."""
    root.mkdir()
    (root / "movies.csv").write_text("movieId,title,genres\n" + "".join(f"{m},Film {m} (2000),Drama\n" for m in range(1, 41)))
    rows = ["userId,movieId,rating,timestamp"]
    for user, (old, new) in flips.items():
        for n in range(20):
            rows.append(f"{user},{n + 1 + user},{old if n < 10 else new},{10**9 + n * 30 * DAY}")
    (root / "ratings.csv").write_text("\n".join(rows) + "\n")


def test_min_span_keeps_only_users_whose_evaluated_ratings_span_that_long(tmp_path):
    _write(tmp_path / "ml", {1: (2.0, 4.0), 2: (3.0, 3.0)})
    ratings = (tmp_path / "ml" / "ratings.csv").read_text().splitlines()
    # user 2 rated everything within one day: their span is under a year
    short = [r if not r.startswith("2,") else ",".join(r.split(",")[:3] + [str(10**9 + int(r.split(",")[1]))])
             for r in ratings]
    (tmp_path / "ml" / "ratings.csv").write_text("\n".join(short) + "\n")
    assert [u.user_id for u in load_movielens(tmp_path / "ml", n_users=None, test=3, min_history=5)] == ["ml-1", "ml-2"]
    spanned = load_movielens(tmp_path / "ml", n_users=None, test=3, min_history=5, min_span_days=365)
    assert [u.user_id for u in spanned] == ["ml-1"]  # 19 ratings 30 days apart: 570 days
    # the span counts the history the evaluation keeps, not every rating the user made
    assert load_movielens(tmp_path / "ml", n_users=None, test=3, min_history=5, history_max=5, min_span_days=365) == []


def test_moved_most_is_the_third_whose_halves_differ_most(tmp_path):
    _write(tmp_path / "ml", {1: (2.0, 4.0), 2: (3.0, 3.5), 3: (4.0, 4.0), 4: (5.0, 1.0), 5: (3.0, 2.0), 6: (1.0, 1.0)})
    users = {u.user_id: u for u in load_movielens(tmp_path / "ml", n_users=None, test=3, min_history=5)}
    # history: 17 ratings, 10 old then 7 new; halves of 8 (the middle one in neither): the means of
    # the first 8 (all old) and of the last 8 (one old, seven new)
    shift = {u: abs((o + 7 * n) / 8 - o) for u, (o, n) in
             {"ml-1": (2, 4), "ml-2": (3, 3.5), "ml-3": (4, 4), "ml-4": (5, 1), "ml-5": (3, 2), "ml-6": (1, 1)}.items()}
    assert shift["ml-4"] > shift["ml-1"] > shift["ml-5"]
    assert moved_most(users, set(users)) == ["ml-4", "ml-1"]  # a third of six, most first
    assert moved_most(users, {"ml-3", "ml-6", "ml-2"}) == ["ml-2"]


def test_the_weighted_run_has_its_own_keys_and_the_report_reads_the_users_who_moved(tmp_path):
    _write(tmp_path / "ml", {1: (2.0, 4.0), 2: (3.0, 3.0), 3: (5.0, 1.0), 4: (3.0, 3.5), 5: (4.0, 4.0), 6: (1.0, 1.0)})
    users = load_movielens(tmp_path / "ml", n_users=None, test=3, min_history=5)
    seen = []

    def rate(system, messages):  # a weighted evidence section makes the model answer 4, else 2
        seen.append(system)
        return distribution_reply({"4": 1.0} if "recency-weighted (half-life 30 days)" in system else {"2": 1.0})

    model = ScriptedChatModel(script=persona_agent_script(rate))
    resources = Resources(memory=MemoryStore.open(tmp_path / "store", embedder=HashEmbeddingFunction()), agent_model=model)
    meta = {"title": "t", "command": "c", "model": "m", "settings": "s"}
    rungs = ("non_personalized", "evidence")
    run_eval(users, tmp_path / "plain", resources, LadderSettings(rungs=rungs), meta)
    assert not any("recency-weighted" in s for s in seen)
    calls = len(model.calls)
    weighted = LadderSettings(rungs=rungs, recency_half_life_days=30)
    report = run_eval(users, tmp_path / "weighted", resources, weighted, meta, versus=tmp_path / "plain")
    assert any("recency-weighted (half-life 30 days)" in s for s in seen[calls:])
    plain = json.loads((tmp_path / "plain" / "users" / "ml-1.json").read_text())
    ours = json.loads((tmp_path / "weighted" / "users" / "ml-1.json").read_text())
    # the bare model does not read the history: same key, so the report does not compare it
    assert ours["rungs"]["non_personalized"]["key"] == plain["rungs"]["non_personalized"]["key"]
    assert ours["rungs"]["evidence"]["key"] != plain["rungs"]["evidence"]["key"]
    assert not any(k.startswith("non_personalized vs") and "(plain)" in k for k in report["paired"])
    truths = {u.user_id: [float(i.ground_truth) for i in u.test] for u in users}
    overall = report["paired"]["evidence vs evidence (plain)"]
    gain = {u: sum(abs(4 - t) - abs(2 - t) for t in ts) / 3 for u, ts in truths.items()}
    assert overall["delta"] == pytest.approx(sum(gain.values()) / 6) and overall["users"] == 6
    moved = report["paired"][f"evidence vs evidence (plain), {MOVED}"]  # two users of six: ml-3 (5 → 1), ml-1 (2 → 4)
    assert moved["users"] == 2 and moved["delta"] == pytest.approx((gain["ml-3"] + gain["ml-1"]) / 2)
    assert MOVED in (tmp_path / "weighted" / "report.md").read_text()
