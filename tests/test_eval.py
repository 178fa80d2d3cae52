import json
import math
import os
from pathlib import Path

import pytest

from personaagent.eval.ladder import RUNGS, LadderSettings
from personaagent.eval.movielens import load_movielens
from personaagent.eval.prefeval import LETTERS, load_prefeval, shuffled
from personaagent.eval.report import _rating_metrics, rung_metrics
from personaagent.eval.run import run_eval
from personaagent.eval.types import DatasetError
from personaagent.memory import MemoryStore
from personaagent.metrics import choice_match, predicted_rating
from personaagent.resources import Resources
from personaagent.testing import HashEmbeddingFunction, ScriptedChatModel, persona_agent_script

SHARED = Path(os.environ.get("PERSONAAGENT_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
needs_shared = pytest.mark.skipif(
    not SHARED.exists(), reason=f"{SHARED} is absent (a fresh clone without ../shared): real-data tests skip")


def test_rating_metrics_match_hand_computed_values():
    m = _rating_metrics([(4.0, 5.0), (3.0, 3.0), (None, 4.75)])  # errors 1, 0, 2 (midpoint 2.75 for no answer)
    assert m["MAE"] == pytest.approx(1.0) and m["RMSE"] == pytest.approx(math.sqrt(5 / 3))
    assert (m["unparsed"], m["items"]) == (1, 3)
    assert predicted_rating('I rate "Alien (1979)" 4.5 stars') == 4.5 and predicted_rating("no idea") is None


def test_accuracy_and_choice_metric():
    assert choice_match({"ground_truth": "B"}, "B. The narrative one").loss == 0.0
    assert choice_match({"ground_truth": "B"}, "(C) the dense paper").loss == 1.0
    records = [{"user_id": "u", "metric": "choice", "rungs": {"persona": [{"loss": 0.0}, {"loss": 1.0}, {"loss": 0.0}]}}]
    assert rung_metrics(records, "persona") == {"accuracy": pytest.approx(2 / 3), "items": 3, "users": 1}
    assert rung_metrics(records, "full") is None


def _write_movielens(root: Path) -> None:
    root.mkdir()
    (root / "movies.csv").write_text(
        "movieId,title,genres\n" + "".join(f'{m},"Movie {m}, The (199{m % 10})",Drama|Comedy\n' for m in range(1, 31)))
    rows = ["userId,movieId,rating,timestamp"]
    for user in (1, 2):
        for n in range(15):
            rows.append(f"{user},{n + 1 + user},{(n % 5) + 1}.0,{1000 + n * 10 + (5 if n >= 12 else 0)}")
    rows.append("1,30,4.0,1125")  # same second as user 1's first test rating
    (root / "ratings.csv").write_text("\n".join(rows) + "\n")


def test_time_split_keeps_test_ratings_out_of_memory_and_batch(tmp_path):
    _write_movielens(tmp_path / "ml")
    users = load_movielens(tmp_path / "ml", n_users=None, test=3, min_history=5)
    assert [u.user_id for u in users] == ["ml-1", "ml-2"]
    for user in users:
        assert len(user.test) == 3
        newest_history = max(h.timestamp for h in user.history)
        assert all(item.timestamp > newest_history for item in user.test)
        test_queries = {item.query for item in user.test}
        assert not test_queries & {h.query for h in user.history}
        assert all(h.labelled for h in user.history)
        assert user.history[-1].query.endswith("Reply with a rating from 0.5 to 5 (in steps of 0.5).")
    assert users[0].extra["user_mean"] == pytest.approx(sum((n % 5) + 1 for n in range(12)) / 12)


def test_movielens_errors_are_clear(tmp_path):
    with pytest.raises(DatasetError, match="movies.csv: file not found"):
        load_movielens(tmp_path)
    _write_movielens(tmp_path / "ml")
    with pytest.raises(DatasetError, match=r"no user\(s\) \['99'\]"):
        load_movielens(tmp_path / "ml", user_ids=["99"])


@needs_shared
def test_real_movielens_split_and_baseline_inputs():
    users = load_movielens(SHARED / "movielens-ml-latest-small", n_users=20, seed=0)
    assert len(users) == 20 and len({u.user_id for u in users}) == 20
    for user in users:
        assert max(h.timestamp for h in user.history) < min(i.timestamp for i in user.test)
        assert len(user.history) >= 10 and user.extra["global_mean"] is not None


def test_option_shuffle_is_deterministic_and_tracks_the_aligned_option():
    options = ["aligned", "b", "c", "d"]
    first, letter = shuffled(options, 0, "topic:3")
    assert shuffled(options, 0, "topic:3") == (first, letter)
    assert first[LETTERS.index(letter)] == "aligned" and sorted(first) == sorted(options)
    letters = {shuffled(options, seed, "topic:3")[1] for seed in range(20)}
    assert len(letters) > 1  # the aligned option does not always land on A


@needs_shared
def test_real_prefeval_forms():
    choice = load_prefeval(SHARED / "prefeval", form="choice", n_records=40, seed=0)
    assert len(choice) == 40 and len({u.attribute for u in choice}) == 20
    assert all(u.alignment_applicable and u.history[0].labelled for u in choice)
    assert all(u.test[0].ground_truth in LETTERS for u in choice)
    explicit = load_prefeval(SHARED / "prefeval", form="explicit", n_records=5, seed=0)
    persona = load_prefeval(SHARED / "prefeval", form="persona", n_records=5, seed=0)
    assert not any(u.alignment_applicable for u in explicit + persona)
    assert len(persona[0].history) >= 3
    assert [u.user_id for u in explicit] == [u.user_id.replace("persona", "explicit") for u in persona]
    with pytest.raises(DatasetError, match="unknown PrefEval form"):
        load_prefeval(SHARED / "prefeval", form="vibes")


def test_tiny_end_to_end_eval_writes_tables_and_plots(tmp_path):
    _write_movielens(tmp_path / "ml")
    users = load_movielens(tmp_path / "ml", n_users=None, test=3, min_history=5)

    model = ScriptedChatModel(script=persona_agent_script(
        lambda system, messages: "4" if "generously" in system else "3",
        rewrite="You are the assistant of this user. They rate generously."))
    resources = Resources(memory=MemoryStore.open(tmp_path / "store", embedder=HashEmbeddingFunction()), agent_model=model)
    meta = {"title": "tiny", "command": "test", "model": "scripted", "metric": "rating", "settings": "s"}
    report = run_eval(users, tmp_path / "out", resources, LadderSettings(max_iters=1), meta)
    assert set(report["rungs"]) == set(RUNGS) and report["users"] == 2
    assert report["rungs"]["non_personalized"]["MAE"] == pytest.approx(
        sum(abs(3 - float(i.ground_truth)) for u in users for i in u.test) / 6)
    assert {"global mean", "user mean", "item mean"} == set(report["baselines"])
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| full (aligned) |" in md and "| baseline: user mean |" in md and "Command: `test`" in md
    for png in ("metric_per_rung.png", "loss_curves.png", "persona_map.png"):
        assert (tmp_path / "out" / png).read_bytes().startswith(b"\x89PNG")
    assert resources.memory.episodes.count("ml-1") == len(users[0].history)  # no test item was written
    cached = json.loads((tmp_path / "out" / "users" / "ml-1.json").read_text())
    assert cached["loss_curve"] and cached["rungs"]["full"]
    calls = len(model.calls)
    run_eval(users, tmp_path / "out", resources, LadderSettings(max_iters=1), meta)
    assert len(model.calls) == calls  # finished users come from the cache
    (tmp_path / "out" / "users" / "ml-2.json").unlink()
    partial = run_eval(users, tmp_path / "out", resources, LadderSettings(max_iters=1), meta, report_only=True)
    assert len(model.calls) == calls and partial["users"] == 1 and partial["finished_users"] == "1 of 2"


def test_a_failing_user_is_reported_and_the_others_finish(tmp_path):
    _write_movielens(tmp_path / "ml")
    users = load_movielens(tmp_path / "ml", n_users=None, test=3, min_history=5)

    def answer(system, messages):
        if "ml-1" in system:
            raise RuntimeError("model fell over")
        return "3"

    model = ScriptedChatModel(script=persona_agent_script(answer, profile=""))  # empty profile: tolerated
    resources = Resources(memory=MemoryStore.open(tmp_path / "store", embedder=HashEmbeddingFunction()), agent_model=model)
    meta = {"title": "t", "command": "c", "model": "m", "metric": "rating", "settings": "s"}
    report = run_eval(users, tmp_path / "out", resources, LadderSettings(max_iters=1, rungs=("memory_only", "persona")), meta)
    assert report["users"] == 1 and report["failed_users"] == ["ml-1: RuntimeError: model fell over"]
    assert "- ml-1: RuntimeError: model fell over" in (tmp_path / "out" / "report.md").read_text()
    record = json.loads((tmp_path / "out" / "users" / "ml-2.json").read_text())
    assert record["profile_error"] == "the model returned an empty profile"
