import json
import math
import os
from dataclasses import replace
from pathlib import Path

import pytest

from personaagent.answers.closed_form import RatingScale
from personaagent.eval import level, stats
from personaagent.eval.ladder import RUNGS, LadderSettings
from personaagent.eval.movielens import BASELINES, load_movielens
from personaagent.eval.report import build_report
from personaagent.answers.text import LETTERS
from personaagent.eval.prefeval import _filler_turns, load_prefeval, shuffled
from personaagent.eval.run import run_eval
from personaagent.eval.level import rating_marginal
from personaagent.eval.scoring import score_item
from personaagent.eval.types import DatasetError, EvalItem, EvalUser
from personaagent.memory import Interaction, MemoryStore
from personaagent.nodes.optimizer import SUMMARY_KEYS
from personaagent.resources import Resources
from personaagent.persona.settings import OptimizerSettings
from personaagent.testing import HashEmbeddingFunction, ScriptedChatModel, distribution_reply, persona_agent_script

SHARED = Path(os.environ.get("PERSONAAGENT_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
needs_shared = pytest.mark.skipif(
    not SHARED.exists(), reason=f"{SHARED} is absent (a fresh clone without ../shared): real-data tests skip")


def test_item_scores_match_hand_computed_values():
    rating = EvalItem(id="r", query="q", ground_truth="4", timestamp=1.0, scale={"low": 0.5, "high": 5, "step": 0.5})
    scored = score_item(rating, {"probs": {"3": 0.5, "5": 0.5}, "median": 4.0, "mean": 4.0})
    # the interpolated median reads "3" as the bucket [2.5, 3.5], which holds half the mass: 3.5
    assert scored == {"error": 0.0, "sq_error": 0.0, "median": 4.0, "mean": 4.0, "expected_error": 1.0,
                      "median_error": 0.5, "unparsed": False}
    unread = score_item(rating, {"probs": {}})  # the midpoint 2.75, as the optimizer counts it
    assert unread["error"] == pytest.approx(1.25) and unread["expected_error"] == pytest.approx(1.25) and unread["unparsed"]
    choice = EvalItem(id="c", query="q", ground_truth="b", timestamp=1.0, options=["a", "b", "c"])
    scored = score_item(choice, {"probs": [0.5, 0.3, 0.2]}, prior=[0.6, 0.2, 0.2])
    assert not scored["right"] and scored["p_right"] == 0.3 and scored["nll"] == pytest.approx(-math.log(0.3))
    # debiased: 0.5/0.6 = 0.83, 0.3/0.2 = 1.5, 0.2/0.2 = 1.0 → b
    assert scored["right_debiased"] and scored["position"] == 1


def test_paired_statistics_against_hand_computed_values():
    a = {"u1": [1.0, 0.0], "u2": [0.0], "u3": [2.0]}
    b = {"u1": [0.0, 0.0], "u2": [1.0], "u3": [1.0]}
    result = stats.paired_difference(a, b, n=500)
    assert result["delta"] == pytest.approx((1 + 0 - 1 + 1) / 4)
    low, high = result["ci95"]
    assert low <= result["delta"] <= high and low >= -1 and high <= 1
    assert stats.bootstrap_mean({"u": [3.0, 3.0]})[1:] == (3.0, 3.0)  # one user: no spread
    # sign test: 2 wins, 1 loss → p = 2 * P(X ≤ 1 | n=3) = 2 * 4/8 = 1
    assert stats.sign_test([-1.0, -0.5, 0.0, 2.0]) == {"wins": 2, "losses": 1, "ties": 1, "p": 1.0}
    # 8 discordant pairs all one way: p = 2 / 2**8
    m = stats.mcnemar_exact([True] * 8 + [True, False], [False] * 8 + [True, False])
    assert (m["only_first_right"], m["only_second_right"]) == (8, 0) and m["p"] == pytest.approx(2 / 256)
    assert stats.binomial_two_sided(5, 10) == 1.0
    assert stats.verdict(-0.1, [-0.2, 0.05], True, "full", "persona") == "no detectable difference"
    assert stats.verdict(-0.1, [-0.2, -0.01], True, "full", "persona") == "full better than persona"
    assert stats.verdict(-0.1, [-0.2, -0.01], False, "full", "persona") == "full worse than persona"


def test_correlation_against_hand_computed_values():
    # (1,2), (2,4), (3,5): dx = -1, 0, 1; dy = -5/3, 1/3, 4/3; r = 3 / sqrt(2 * 42/9)
    assert stats.pearson([(1, 2), (2, 4), (3, 5)]) == pytest.approx(3 / math.sqrt(84 / 9))
    assert math.isnan(stats.pearson([(1, 2), (1, 4)]))  # x does not vary
    r, low, high = stats.bootstrap_correlation({"u1": [(1, 2), (2, 4)], "u2": [(3, 5)], "u3": [(4, 3)]}, n=500)
    assert r == pytest.approx(stats.pearson([(1, 2), (2, 4), (3, 5), (4, 3)])) and -1 <= low <= r <= high <= 1
    r, low, high = stats.bootstrap_correlation({"u1": [(1, 1), (2, 2)], "u2": [(3, 3), (5, 5)]})
    assert (r, low, high) == pytest.approx((1.0, 1.0, 1.0))  # every resample is a perfect line


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
        assert all(h.labelled and h.scale == {"low": 0.5, "high": 5.0, "step": 0.5} for h in user.history)
        assert all(i.scale and i.attributes["baselines"] for i in user.test)
    past = [(n % 5) + 1 for n in range(12)]  # user 1's ratings before the cut: 1..5, 1..5, 1, 2
    first = users[0].test[0].attributes["baselines"]
    assert first["user mean"] == pytest.approx(sum(past) / 12) and first["user median"] == 2.5


def test_the_bias_baseline_by_hand(tmp_path):
    root = tmp_path / "ml"
    root.mkdir()
    (root / "movies.csv").write_text("movieId,title,genres\n1,A (1990),Drama\n2,B (1991),Drama\n3,C (1992),Drama\n")
    (root / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,2.0,2\n1,3,5.0,10\n"
                                      "2,1,5.0,3\n2,3,3.0,4\n2,2,1.0,20\n")
    [user] = load_movielens(root, user_ids=["1"], test=1)
    got = user.test[0].attributes["baselines"]
    mu = (4 + 2 + 5 + 3) / 4  # every rating before user 1's cut (t=10); the t=20 one is later
    b_item = {1: ((4 - mu) + (5 - mu)) / (25 + 2), 2: (2 - mu) / (25 + 1), 3: (3 - mu) / (25 + 1)}
    b_user = ((4 - mu - b_item[1]) + (2 - mu - b_item[2])) / (10 + 2)
    assert got["bias baseline"] == pytest.approx(mu + b_user + b_item[3])
    assert (got["global mean"], got["user mean"], got["user median"], got["item mean"]) == (mu, 3.0, 3.0, 3.0)
    # the catalogue: every movie of the history and the test, with other users' ratings before the cut
    catalogue = {item.id: item for item in user.knowledge}
    assert list(catalogue) == ["movie-1", "movie-2", "movie-3"]
    assert catalogue["movie-1"].text == "other users' average rating 5.0 out of 5, from 1 rating(s)"
    assert catalogue["movie-2"].text == "no other user had rated it yet"  # user 2 rated it after the cut
    assert catalogue["movie-3"].title == '"C (1992)" (Drama)' and catalogue["movie-3"].metadata["ratings"] == 1


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
        assert len(user.history) >= 10
        assert all(set(i.attributes["baselines"]) == set(BASELINES) for i in user.test)


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
    assert all(u.test[0].ground_truth in u.test[0].options and len(u.test[0].options) == 4 for u in choice)
    assert all(u.history[0].ground_truth in u.history[0].options for u in choice)
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

    def rate(system, messages):  # a generous persona rates 4, anything else 3, always from logprobs
        return distribution_reply({"4": 0.9, "3": 0.1} if "generously" in system else {"3": 0.8, "2": 0.2})

    model = ScriptedChatModel(script=persona_agent_script(rate, rewrite="You are the assistant of this user. They rate generously."))
    resources = Resources(memory=MemoryStore.open(tmp_path / "store", embedder=HashEmbeddingFunction()), agent_model=model)
    meta = {"title": "tiny", "command": "test", "model": "scripted", "settings": "s"}
    report = run_eval(users, tmp_path / "out", resources, LadderSettings(optimizer=OptimizerSettings.of(max_iters=1)), meta)
    assert set(report["rungs"]) == set(RUNGS) - {"oracle", "neighbours"} and report["users"] == 2 and report["kind"] == "rating"
    truths = [float(i.ground_truth) for u in users for i in u.test]
    assert report["rungs"]["non_personalized"]["MAE"] == pytest.approx(sum(abs(3 - t) for t in truths) / 6)
    assert report["rungs"]["non_personalized"]["expected_error"] == pytest.approx(
        sum(0.8 * abs(3 - t) + 0.2 * abs(2 - t) for t in truths) / 6)
    assert set(report["baselines"]) == set(BASELINES)
    # the non-personalized rung predicts 2.8 for every item: its deviation from the user mean, against the rating's
    pairs = [(2.8 - i.attributes["baselines"]["user mean"], float(i.ground_truth) - i.attributes["baselines"]["user mean"])
             for u in users for i in u.test]
    # both users have the same mean, so that deviation never varies and no correlation is reported
    assert len({x for x, _ in pairs}) == 1 and "beyond_user_mean" not in report["rungs"]["non_personalized"]
    reference = report["paired"]["bias baseline vs user mean"]  # the baselines against each other, by hand
    assert reference["delta"] == pytest.approx(sum(
        abs(i.attributes["baselines"]["bias baseline"] - float(i.ground_truth))
        - abs(i.attributes["baselines"]["user mean"] - float(i.ground_truth)) for u in users for i in u.test) / 6)
    paired = report["paired"]["full vs persona"]
    assert set(paired) >= {"delta", "ci95", "p", "verdict", "continuous"} and paired["users"] == 2
    best = min(report["rungs"], key=lambda r: report["rungs"][r]["MAE"])  # the best rung meets every baseline
    assert {f"{best} vs user mean", f"{best} vs user median", f"{best} vs bias baseline"} <= set(report["paired"])
    assert not {k for k in report["paired"] if k.endswith(("vs user median", "vs bias baseline"))} - {
        f"{best} vs user median", f"{best} vs bias baseline"}
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "out" / "users").iterdir())]
    unaligned = [sum(r["rungs"][k]["seconds"] for k in ("non_personalized", "memory_only", "persona"))
                 + r.get("profile_seconds", 0) for r in records]
    assert report["timing"]["three rungs without alignment, per user"] == {
        "mean_s": pytest.approx(sum(unaligned) / 2), "max_s": pytest.approx(max(unaligned))}
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| full (aligned) |" in md and "| baseline: user median |" in md and "Command: `test`" in md
    assert "## Paired comparisons" in md and "95% CI" in md and "| difference in expected absolute error |" in md
    assert report["alignment"]["users_aligned"] == 2 and report["alignment"]["candidates"] >= 2
    assert "## Alignment" in md and "Candidates proposed, by operator" in md
    for png in ("metric_per_rung.png", "loss_curves.png", "candidates.png", "persona_map.png"):
        assert (tmp_path / "out" / png).read_bytes().startswith(b"\x89PNG")
    assert resources.memory.episodes.count("ml-1") == len(users[0].history)  # no test item was written
    raw = (tmp_path / "out" / "users" / "ml-1.json").read_text()
    cached = json.loads(raw)
    assert cached["optimization"]["loss_curve"] and cached["rungs"]["full"]["items"]
    assert set(cached["optimization"]) >= {*SUMMARY_KEYS, "final_version", "pool"}  # the run's summary, and its candidates
    # the committed record holds answers, not the dataset: no ground truth, no movie titles
    assert "ground_truth" not in raw and "Movie" not in raw
    calls = len(model.calls)
    run_eval(users, tmp_path / "out", resources, LadderSettings(optimizer=OptimizerSettings.of(max_iters=1)), meta)
    assert len(model.calls) == calls  # finished users come from their records
    # another machine: only the records travel; the report is rebuilt from them and the data
    moved = tmp_path / "elsewhere"
    (moved / "users").mkdir(parents=True)
    for record in (tmp_path / "out" / "users").iterdir():
        (moved / "users" / record.name).write_text(record.read_text())
    again = run_eval(users, moved, Resources(agent_model=model), LadderSettings(optimizer=OptimizerSettings.of(max_iters=1)), meta, report_only=True)
    assert len(model.calls) == calls and again["rungs"] == report["rungs"]
    (moved / "users" / "ml-2.json").unlink()
    partial = run_eval(users, moved, Resources(agent_model=model), LadderSettings(optimizer=OptimizerSettings.of(max_iters=1)), meta, report_only=True)
    assert partial["users"] == 1 and partial["finished_users"] == "1 of 2"


def test_the_report_states_what_a_rung_knows_beyond_the_user_mean(tmp_path):
    scale = {"low": 0.5, "high": 5, "step": 0.5}
    means, truths, predicted = {"a": 3.0, "b": 4.0}, {"a": [2.0, 4.0], "b": [5.0, 3.5]}, {"a": [2.5, 3.5], "b": [4.5, 4.0]}
    users = [EvalUser(user_id=u, history=[], metric="rating", test=[
        EvalItem(id=f"{u}{n}", query="q", ground_truth=f"{t:g}", timestamp=1.0, scale=scale,
                 attributes={"baselines": dict.fromkeys(BASELINES, means[u]) | {"bias baseline": t}})
        for n, t in enumerate(truths[u])])
        for u in means]
    records = [{"user_id": u, "rungs": {"persona": {"seconds": 1.0, "items": [
        {"id": f"{u}{n}", "path": "logprobs", "probs": {f"{p:g}": 1.0}, "median": p, "mean": p}
        for n, p in enumerate(predicted[u])]}}} for u in means]
    meta = {"title": "t", "command": "c", "model": "m", "settings": "s", "wall_time": "w"}
    report = build_report(users, records, meta, tmp_path)
    # deviations from the user mean: predicted (-0.5, 0.5, 0.5, 0) against the ratings' (-1, 1, 1, -0.5)
    expected = stats.pearson([(-0.5, -1), (0.5, 1), (0.5, 1), (0, -0.5)])
    signal = report["rungs"]["persona"]["beyond_user_mean"]
    assert signal["r"] == pytest.approx(expected) and signal["ci95"][0] <= signal["r"] <= signal["ci95"][1] <= 1
    md = (tmp_path / "report.md").read_text()
    assert f"persona (no alignment) {expected:+.3f}" in md
    # a baseline that knew every rating tracks the departures perfectly; the user mean has none
    assert report["baselines"]["bias baseline"]["beyond_user_mean"] == {"r": pytest.approx(1.0), "ci95": pytest.approx([1.0, 1.0])}
    assert "beyond_user_mean" not in report["baselines"]["user mean"] and "baseline bias baseline +1.000" in md


def test_the_report_states_how_far_a_rung_follows_the_users_level(tmp_path):
    scale = {"low": 0.5, "high": 5, "step": 0.5}
    means = {"a": 2.0, "b": 3.0, "c": 4.0, "d": 4.5}
    predicted = {"a": [3.0, 3.5], "b": [3.5, 3.5], "c": [4.0, 4.0], "d": [4.0, 4.5]}  # means 3.25, 3.5, 4, 4.25
    users = [EvalUser(user_id=u, history=[], metric="rating", test=[
        EvalItem(id=f"{u}{n}", query="q", ground_truth="3", timestamp=1.0, scale=scale,
                 attributes={"baselines": dict.fromkeys(BASELINES, m)}) for n in range(2)]) for u, m in means.items()]
    records = [{"user_id": u, "rungs": {"persona": {"seconds": 1.0, "items": [
        {"id": f"{u}{n}", "path": "logprobs", "probs": {f"{p:g}": 1.0}, "median": p, "mean": p}
        for n, p in enumerate(predicted[u])]}}} for u in means]
    meta = {"title": "t", "command": "c", "model": "m", "settings": "s", "wall_time": "w"}
    level = build_report(users, records, meta, tmp_path)["rungs"]["persona"]["follows_user_level"]
    # user means 2, 3, 4, 4.5 (mean 3.375) against predicted 3.25, 3.5, 4, 4.25 (mean 3.75):
    # slope Σ(dx·dy)/Σdx² = (1.375·0.5 + 0.375·0.25 + 0.625·0.25 + 1.125·0.5) / (1.375² + 0.375² + 0.625² + 1.125²)
    by_hand = (1.375 * 0.5 + 0.375 * 0.25 + 0.625 * 0.25 + 1.125 * 0.5) / (1.375**2 + 0.375**2 + 0.625**2 + 1.125**2)
    assert level["slope"] == pytest.approx(by_hand) and 0 < by_hand < 1
    assert level["ci95"][0] <= level["slope"] <= level["ci95"][1] and 0.9 < level["r"] <= 1
    assert f"persona (no alignment) {by_hand:.2f}" in (tmp_path / "report.md").read_text()


def test_the_report_says_whether_the_optimizers_gain_carries_over_to_the_test_items(tmp_path):
    scale = {"low": 1, "high": 5, "step": 1}
    truths = {"a": [4.0, 4.0], "b": [3.0, 3.0], "c": [3.0, 3.0]}
    persona = {"a": {"3": 1.0}, "b": {"4": 1.0}, "c": {"3": 1.0}}  # one distribution per user, every item
    full = {"a": {"4": 0.5, "3": 0.5}, "b": {"4": 1.0}, "c": {"2": 1.0}}
    own = {"a": (1.0, 0.7), "b": (0.9, 0.9), "c": (1.2, 1.1)}  # (initial, best) loss; b had nothing accepted
    users = [EvalUser(user_id=u, history=[], metric="rating", test=[
        EvalItem(id=f"{u}{n}", query="q", ground_truth=f"{t:g}", timestamp=1.0, scale=scale,
                 attributes={"baselines": dict.fromkeys(BASELINES, 3.0)}) for n, t in enumerate(ts)])
        for u, ts in truths.items()]

    def answers(u, probs):
        return {"seconds": 1.0, "items": [{"id": f"{u}{n}", "path": "logprobs", "probs": probs, "median": 3.0, "mean": 3.0}
                                          for n in range(2)]}
    records = [{"user_id": u, "rungs": {"persona": answers(u, persona[u]), "full": answers(u, full[u])},
                "optimization": {"initial_loss": own[u][0], "best_loss": own[u][1], "accepted": int(u != "b"), "pool": []}}
               for u in truths]
    meta = {"title": "t", "command": "c", "model": "m", "settings": "s", "wall_time": "w"}
    report = build_report(users, records, meta, tmp_path)
    transfer = report["alignment"]["transfer"]
    assert report["rungs"]["persona"]["medians"] == {3.0: 6}  # every answer above reads median 3

    def expected_error(probs, ts):
        return sum(p * abs(float(v) - t) for t in ts for v, p in probs.items()) / len(ts)
    test = {u: expected_error(persona[u], truths[u]) - expected_error(full[u], truths[u]) for u in ("a", "c")}
    assert test == {"a": pytest.approx(0.5), "c": pytest.approx(-1.0)}  # a gained on test, c lost
    assert transfer["users"] == 2 and transfer["measure"] == "expected absolute error"
    assert transfer["own_gain"] == pytest.approx((0.3 + 0.1) / 2) and transfer["test_gain"] == pytest.approx(-0.25)
    assert (transfer["test_gained"], transfer["test_lost"]) == (1, 1) and transfer["r"] == pytest.approx(1.0)
    assert "For the 2 users with an accepted persona, the loss fell by 0.200" in (tmp_path / "report.md").read_text()
    # an optimizer that minimised the error of the median is judged in that measure: user a's full
    # answer has its median at 3.5 (error 0.5 against 1.0 for the persona's 3), c's at 2 (1.0 against 0)
    median_run = build_report(users, records, meta | {"optimizer_loss": "median"}, tmp_path)
    assert median_run["alignment"]["transfer"]["measure"] == "absolute error of the unrounded median"
    assert median_run["alignment"]["transfer"]["test_gain"] == pytest.approx((0.5 - 1.0) / 2)
    assert median_run["paired"]["full vs persona"]["continuous"]["metric"] == "absolute error of the unrounded median"
    assert report["paired"]["full vs persona"]["continuous"]["metric"] == "expected absolute error"


def test_only_the_catalogue_rung_reads_the_item_catalogue(tmp_path):
    _write_movielens(tmp_path / "ml")
    users = load_movielens(tmp_path / "ml", n_users=None, test=3, min_history=5)
    seen = []

    def rate(system, messages):  # 5 when the prompt carries a catalogue entry ("title" (genres): figures), else 3
        seen.append(system)
        return distribution_reply({"5": 1.0} if "(Drama, Comedy):" in system else {"3": 1.0})

    model = ScriptedChatModel(script=persona_agent_script(rate))
    resources = Resources(memory=MemoryStore.open(tmp_path / "store", embedder=HashEmbeddingFunction()), agent_model=model)
    meta = {"title": "t", "command": "c", "model": "m", "settings": "s"}
    settings = LadderSettings(rungs=("memory_only", "evidence", "catalogue"))
    report = run_eval(users, tmp_path / "out", resources, settings, meta)
    truths = [float(i.ground_truth) for u in users for i in u.test]
    assert report["rungs"]["catalogue"]["MAE"] == pytest.approx(sum(abs(5 - t) for t in truths) / 6)
    for rung in ("memory_only", "evidence"):  # their lookup rules do not read knowledge on ratings
        assert report["rungs"][rung]["MAE"] == pytest.approx(sum(abs(3 - t) for t in truths) / 6)
    assert sum("(Drama, Comedy):" in s for s in seen) == 6  # the catalogue rung's six answers
    # a user whose dataset has no catalogue (PrefEval) gets no catalogue rung
    run_eval([replace(users[0], knowledge=[])], tmp_path / "plain", resources, settings, meta)
    record = json.loads((tmp_path / "plain" / "users" / "ml-1.json").read_text())
    assert set(record["rungs"]) == {"memory_only", "evidence"}


def test_versus_compares_only_the_rungs_produced_differently(tmp_path):
    _write_movielens(tmp_path / "ml")
    users = load_movielens(tmp_path / "ml", n_users=None, test=3, min_history=5)
    model = ScriptedChatModel(script=persona_agent_script(lambda s, m: distribution_reply({"3": 0.8, "2": 0.2})))
    resources = Resources(memory=MemoryStore.open(tmp_path / "store", embedder=HashEmbeddingFunction()), agent_model=model)
    meta = {"title": "t", "command": "c", "model": "m", "settings": "s"}
    settings = LadderSettings(optimizer=OptimizerSettings.of(max_iters=1))
    run_eval(users, tmp_path / "new", resources, settings, meta)
    # an "earlier optimizer": the same records, but its full rung answered 5 everywhere, under another key
    (tmp_path / "old" / "users").mkdir(parents=True)
    for path in (tmp_path / "new" / "users").iterdir():
        record = json.loads(path.read_text())
        record["rungs"]["full"] = {**record["rungs"]["full"], "key": "older", "items": [
            {**item, "probs": {"5": 1.0}, "median": 5.0, "mean": 5.0} for item in record["rungs"]["full"]["items"]]}
        (tmp_path / "old" / "users" / path.name).write_text(json.dumps(record))
    report = run_eval(users, tmp_path / "new", resources, settings, meta, report_only=True, versus=tmp_path / "old")
    versus = {k: v for k, v in report["paired"].items() if "(old)" in k}
    assert list(versus) == ["full vs full (old)"]  # the other rungs have the same keys: not compared
    truths = {u.user_id: [float(i.ground_truth) for i in u.test] for u in users}
    by_user = [sum(abs(3 - t) - abs(5 - t) for t in ts) / len(ts) for ts in truths.values()]
    assert versus["full vs full (old)"]["delta"] == pytest.approx(sum(by_user) / len(by_user))
    assert versus["full vs full (old)"]["users"] == 2


def test_a_changed_optimizer_reruns_only_the_full_rung(tmp_path):
    _write_movielens(tmp_path / "ml")
    users = load_movielens(tmp_path / "ml", n_users=None, test=3, min_history=5)[:1]
    model = ScriptedChatModel(script=persona_agent_script(lambda s, m: distribution_reply({"3": 1.0})))
    resources = Resources(memory=MemoryStore.open(tmp_path / "store", embedder=HashEmbeddingFunction()), agent_model=model)
    meta = {"title": "t", "command": "c", "model": "m", "settings": "s"}
    run_eval(users, tmp_path / "out", resources, LadderSettings(optimizer=OptimizerSettings.of(max_iters=1)), meta)
    first = json.loads((tmp_path / "out" / "users" / "ml-1.json").read_text())
    calls = len(model.calls)
    run_eval(users, tmp_path / "out", resources, LadderSettings(optimizer=OptimizerSettings.of(max_iters=2)), meta)
    second = json.loads((tmp_path / "out" / "users" / "ml-1.json").read_text())
    for rung in ("non_personalized", "memory_only", "persona"):
        assert second["rungs"][rung] == first["rungs"][rung]
    assert second["rungs"]["full"]["key"] != first["rungs"]["full"]["key"]
    # the profile (1 call) and the optimizer ran again; the three other rungs (9 answers) did not
    simulated = len(model.calls) - calls
    assert 0 < simulated < 1 + 9 + second["optimization"]["model_calls"]


def test_option_questions_report_every_reading_by_position_and_the_debiased_accuracy(tmp_path):
    options = ["north", "south", "east", "west"]
    users = []
    for n in range(6):  # the right option sits at position n % 4
        order = options[n % 4:] + options[: n % 4]
        history = [Interaction(user_id=f"u{n}", query="Holiday?", options=order, ground_truth="north", timestamp=1.0)]
        users.append(EvalUser(user_id=f"u{n}", history=history, metric="label", test=[EvalItem(
            id=f"u{n}-t", query="Where next?", options=order, ground_truth="north", timestamp=2.0)]))

    def pick(system, messages):  # a model that likes the letter A and, less strongly, "north"
        letters = {line[3:]: line[0] for line in messages[-1].content.splitlines() if line[1:3] == ". "}
        probs = {letters[o]: 0.1 for o in options}
        probs["A"] += 0.5
        probs[letters["north"]] += 0.3
        return distribution_reply(probs)

    model = ScriptedChatModel(script=persona_agent_script(pick))
    resources = Resources(memory=MemoryStore.open(tmp_path / "store", embedder=HashEmbeddingFunction()), agent_model=model)
    meta = {"title": "t", "command": "c", "model": "m", "settings": "s"}
    report = run_eval(users, tmp_path / "out", resources, LadderSettings(rungs=("non_personalized",)), meta)
    row = report["rungs"]["non_personalized"]
    # every order: north gets (0.9 + 3 × 0.4) / 1.2 / 4 = 0.4375, each other option (0.6 + 3 × 0.1) / 1.2 / 4 = 0.1875
    assert row["accuracy"] == 1.0 and row["position_spread"] == 0.0 and row["p_right"] == pytest.approx(0.4375)
    one = row["readings"]["one order"]
    assert one["accuracy"] == pytest.approx(2 / 6)  # the order given only: right only where north is A
    assert one["by_position"]["A"] == {"accuracy": 1.0, "items": 2} and one["by_position"]["B"]["accuracy"] == 0.0
    assert one["position_spread"] == 1.0 and one["vs_as_answered"]["delta"] == pytest.approx(2 / 6 - 1)
    assert row["readings"]["two orders"]["accuracy"] == 1.0 and row["readings"]["every order"]["accuracy"] == 1.0
    assert row["letter_prior"][0] > 0.5 and row["accuracy_debiased"] == 1.0
    assert row["readings"]["one order, letter prior divided out"]["accuracy"] == 1.0
    assert row["cost"]["calls_per_answer"] == 4
    text = (tmp_path / "out" / "report.md").read_text()
    assert "Accuracy by the position of the right option" in text and "## Readings of the answers" in text


def test_the_oracle_rung_tells_the_persona_the_stated_preference_and_nothing_else_sees_it(tmp_path):
    options = ["north", "south", "east", "west"]
    stated = "I only travel north."
    users = [EvalUser(user_id=f"u{n}", metric="label", attribute="travel", stated_preference=stated if n else "", history=[
        Interaction(user_id=f"u{n}", query="Holiday?", options=options, ground_truth="north", timestamp=1.0)],
        test=[EvalItem(id=f"u{n}-t", query="Where next?", options=options, ground_truth="north", timestamp=2.0)])
        for n in range(2)]
    prompts_seen = []

    def pick(system, messages):  # "north" (A) when the persona carries the stated preference, else "west"
        prompts_seen.append(system + "".join(str(m.content) for m in messages))
        return distribution_reply({"A": 0.9, "D": 0.1} if stated in system else {"D": 0.9, "A": 0.1})

    model = ScriptedChatModel(script=persona_agent_script(pick))
    resources = Resources(memory=MemoryStore.open(tmp_path / "store", embedder=HashEmbeddingFunction()), agent_model=model)
    meta = {"title": "t", "command": "c", "model": "m", "settings": "s"}
    report = run_eval(users, tmp_path / "out", resources, LadderSettings(rungs=("persona", "oracle"), option_orders=1), meta)
    assert report["rungs"]["oracle"]["accuracy"] == 1.0 and report["rungs"]["persona"]["accuracy"] == 0.0
    assert report["rungs"]["oracle"]["users"] == 1  # u0 states nothing: no oracle rung for it
    assert sum(stated in p for p in prompts_seen) == 1  # the oracle answer only
    assert '- In their own words: "I only travel north."' in next(p for p in prompts_seen if stated in p)
    assert all(stated not in i.query + (i.answer or "") for i in resources.memory.episodes.list("u1"))


def test_a_failing_user_is_reported_and_the_others_finish(tmp_path):
    _write_movielens(tmp_path / "ml")
    users = load_movielens(tmp_path / "ml", n_users=None, test=3, min_history=5)

    def answer(system, messages):
        if "ml-1" in system:
            raise RuntimeError("model fell over")
        return distribution_reply({"3": 1.0})

    model = ScriptedChatModel(script=persona_agent_script(answer, profile=""))  # empty profile: tolerated
    resources = Resources(memory=MemoryStore.open(tmp_path / "store", embedder=HashEmbeddingFunction()), agent_model=model)
    meta = {"title": "t", "command": "c", "model": "m", "settings": "s"}
    report = run_eval(users, tmp_path / "out", resources, LadderSettings(optimizer=OptimizerSettings.of(max_iters=1), rungs=("memory_only", "persona")), meta)
    assert report["users"] == 1 and report["failed_users"] == ["ml-1: RuntimeError: model fell over"]
    assert "- ml-1: RuntimeError: model fell over" in (tmp_path / "out" / "report.md").read_text()


def test_the_level_corrected_diagnostic_replaces_the_rungs_level_by_the_users(tmp_path):
    scale = {"low": 0.5, "high": 5, "step": 0.5}
    past = [2.0, 2.0, 2.0, 2.5]  # buckets: 2 gets 3.5 counts, 3 gets 0.5; + 0.5 each → 1: .5, 2: 4, 3: 1, 4: .5, 5: .5
    assert rating_marginal(past, RatingScale.of(scale)) == pytest.approx(
        {"1": 0.5 / 6.5, "2": 4 / 6.5, "3": 1 / 6.5, "4": 0.5 / 6.5, "5": 0.5 / 6.5})
    history = [Interaction(user_id="a", query="q", ground_truth=f"{r:g}", timestamp=float(n), scale=scale)
               for n, r in enumerate(past)]
    # the model says the same for every item, at its usual level 4: once that level is divided out,
    # what is left is about the user's own spread (the 0.01 that keeps the division finite moves it a
    # little), whose median 1.5 + (0.5 − 0.060)/0.599 ≈ 2.24 snaps to 2
    same = {"1": 0.02, "2": 0.05, "3": 0.15, "4": 0.58, "5": 0.2}
    truths = [2.0, 2.5]
    users = [EvalUser(user_id="a", history=history, metric="rating", test=[
        EvalItem(id=f"a{n}", query="q", ground_truth=f"{t:g}", timestamp=10.0, scale=scale,
                 attributes={"baselines": dict.fromkeys(BASELINES, 2.125)}) for n, t in enumerate(truths)])]
    records = [{"user_id": "a", "rungs": {"persona": {"seconds": 1.0, "items": [
        {"id": f"a{n}", "path": "logprobs", "probs": same, "median": 4.0, "mean": 3.95} for n in range(2)]}}}]
    assert level.corrected_medians({"a": users[0]}, records, "persona") == {"a": [2.0, 2.0]}
    meta = {"title": "t", "command": "c", "model": "m", "settings": "s", "wall_time": "w"}
    corrected = build_report(users, records, meta, tmp_path)["rungs"]["persona"]["level_corrected"]
    # errors 0 and 0.5 against the uncorrected 2 and 1.5; the user mean 2.125 errs by 0.125 and 0.375
    assert corrected["MAE"] == pytest.approx(0.25)
    assert corrected["vs_uncorrected"]["delta"] == pytest.approx(0.25 - 1.75)
    assert corrected["vs_user_mean"]["delta"] == pytest.approx(0.25 - 0.25)
    assert "| persona (no alignment) | 0.250 |" in (tmp_path / "report.md").read_text()
    assert "vs_memory_only" not in corrected  # no memory-only rung to compare with
    # memory only at another level (3) with the same shape per item: once both levels are divided out
    # they read the same, so the rung knows nothing about these items that memory only does not
    shifted = {"1": 0.05, "2": 0.15, "3": 0.58, "4": 0.2, "5": 0.02}
    records[0]["rungs"]["memory_only"] = {"seconds": 1.0, "items": [
        {"id": f"a{n}", "path": "logprobs", "probs": shifted, "median": 3.0, "mean": 2.99} for n in range(2)]}
    both = build_report(users, records, meta, tmp_path)["rungs"]
    assert both["memory_only"]["level_corrected"]["MAE"] == pytest.approx(0.25)
    assert both["persona"]["level_corrected"]["vs_memory_only"]["delta"] == pytest.approx(0.0)
    # an item the model rates lower than the user's other item keeps that departure after the correction
    low = {"1": 0.0, "2": 0.3, "3": 0.4, "4": 0.25, "5": 0.05}
    records[0]["rungs"]["persona"]["items"][1]["probs"] = low
    first, second = level.corrected_medians({"a": users[0]}, records, "persona")["a"]
    assert second < first


@needs_shared
def test_prefeval_at_a_distance_puts_seeded_fillers_from_other_topics_between_preference_and_question():
    near = load_prefeval(SHARED / "prefeval", form="explicit", n_records=6, seed=0)
    far = load_prefeval(SHARED / "prefeval", form="explicit", n_records=6, seed=0, distance=20)
    again = load_prefeval(SHARED / "prefeval", form="explicit", n_records=6, seed=0, distance=20)
    for a, b, c in zip(near, far, again):
        assert b.user_id == a.user_id and b.test[0].options == a.test[0].options  # same records, same shuffle
        assert b.history[0].query == a.history[0].query  # the preference comes first
        fillers = b.history[1:]
        assert len(fillers) == 20 and all(f.metadata["filler_from"] != b.attribute for f in fillers)
        assert [f.query for f in fillers] == [f.query for f in c.history[1:]]  # fixed by the seed
        assert b.history[0].timestamp < min(f.timestamp for f in fillers)
        assert max(f.timestamp for f in fillers) < b.test[0].timestamp  # all of them before the question
    for user in far:  # each filler is a turn of the topic it says it comes from
        for f in user.history[1:]:
            assert f.query in {fields["query"] for _, fields in _filler_turns(SHARED / "prefeval", f.metadata["filler_from"])}
    persona = load_prefeval(SHARED / "prefeval", form="persona", n_records=2, seed=0, distance=100)
    assert all(len(u.history) == len(p.history) + 100 for u, p in zip(
        persona, load_prefeval(SHARED / "prefeval", form="persona", n_records=2, seed=0)))
    with pytest.raises(DatasetError, match="needs more filler turns"):
        load_prefeval(SHARED / "prefeval", form="explicit", n_records=1, seed=0, distance=400, pool=50)


def test_the_default_rung_keeps_what_the_user_stated_and_the_persona_rung_does_not(tmp_path):
    options = ["steak house", "vegan cafe", "burger bar", "fish market"]
    said = "I am vegan and avoid all animal products."
    users = [EvalUser(user_id=f"v{n}", metric="label", attribute="food", history=[
        Interaction(user_id=f"v{n}", query=said, answer="Noted.", timestamp=1.0),
        Interaction(user_id=f"v{n}", query="Any plans for the weekend?", answer="Hiking.", timestamp=2.0)],
        test=[EvalItem(id=f"v{n}-t", query="Where shall we eat?", options=options, ground_truth="vegan cafe",
                       timestamp=3.0)], alignment_applicable=False) for n in range(2)]

    def pick(system, messages):  # the first option shown, unless the check against the statement weighs it
        letters = [line[0] for line in messages[-1].content.splitlines() if line[1:3] == ". "]
        return distribution_reply({letters[0]: 0.7, letters[1]: 0.1, letters[2]: 0.1, letters[3]: 0.1})

    model = ScriptedChatModel(script=persona_agent_script(
        pick, stated=lambda s: 0.9 if s == said else 0.0,
        fits=lambda option: 0.95 if option == "vegan cafe" else 0.05))
    resources = Resources(memory=MemoryStore.open(tmp_path / "store", embedder=HashEmbeddingFunction()), agent_model=model)
    meta = {"title": "t", "command": "c", "model": "m", "settings": "s"}
    report = run_eval(users, tmp_path / "out", resources, LadderSettings(rungs=("persona", "default")), meta)
    assert report["rungs"]["persona"]["accuracy"] == 0.0  # every order: a tie broken by the first option shown
    assert report["rungs"]["default"]["accuracy"] == 1.0
    assert report["statements"]["found_per_user"] == 1 and report["statements"]["kept_per_user"] == 1
    # the check's own effect: the same answers before it (every order) are wrong
    assert report["rungs"]["default"]["readings"]["every order"]["accuracy"] == 0.0
    record = json.loads((tmp_path / "out" / "users" / "v0.json").read_text())
    assert record["statements"]["found"] == 1 and record["rungs"]["default"]["items"][0]["calls"] == 8
    assert "What the user stated (the default path)" in (tmp_path / "out" / "report.md").read_text()
    # a user who stated nothing: the default persona is the persona rung's, whose answers stand
    quiet = EvalUser(user_id="q", metric="label", attribute="food", alignment_applicable=False, history=[
        Interaction(user_id="q", query="Any plans for the weekend?", answer="Hiking.", timestamp=1.0)],
        test=[EvalItem(id="q-t", query="Where shall we eat?", options=options, ground_truth="vegan cafe", timestamp=3.0)])
    calls = len(model.calls)
    run_eval([quiet], tmp_path / "out", resources, LadderSettings(rungs=("persona", "default")), meta)
    record = json.loads((tmp_path / "out" / "users" / "q.json").read_text())
    assert record["rungs"]["default"]["same_as"] == "persona"
    assert record["rungs"]["default"]["items"] == record["rungs"]["persona"]["items"]
    assert len(model.calls) - calls == 1 + 4  # the profile line and the persona rung's four orders, nothing more


@needs_shared
def test_eval_statements_measures_detection_and_the_same_subject_rule(tmp_path):
    from personaagent.eval.statements import measure

    model = ScriptedChatModel(script=persona_agent_script("x", stated=1.0))  # says yes to every sentence it is asked
    report = measure(SHARED / "prefeval", tmp_path / "out", model, HashEmbeddingFunction(),
                     {"command": "c", "model": "m"}, records=40, seed=0)
    d = report["detection"]
    assert d["statement"]["n"] == 40 and d["persona_turn"]["n"] == 40 and d["request"]["n"] > 80
    # a model that says yes to everything keeps exactly the turns the filter lets through
    assert d["statement"]["rate"] > 0.8 and 0 < d["request"]["rate"] < 0.5
    true_positive = d["statement"]["rate"] * 40 + d["persona_turn"]["rate"] * 40
    assert d["recall"]["rate"] == pytest.approx(true_positive / 80, abs=0.01)
    assert d["precision"]["rate"] == pytest.approx(true_positive / (true_positive + d["request"]["rate"] * d["request"]["n"]),
                                                   abs=0.01)
    same = report["same_subject"]
    assert same["threshold"] > 0 and set(same) - {"threshold"} == {
        "same subject (a statement and its restatement)", "different subjects, same topic", "different subjects, other topics"}
    assert "## Same subject" in (tmp_path / "out" / "report.md").read_text()


def test_a_wilson_interval_stays_within_0_and_1_and_prints_no_negative_zero():
    import math

    from personaagent.eval.statements import wilson

    low, high = wilson(0, 40)
    assert low == 0.0 and math.copysign(1.0, low) == 1.0 and f"{low:.3f}" == "0.000"
    assert high == pytest.approx(0.0876, abs=1e-4)  # by hand: z² / (n + z²) with z = 1.96
    assert wilson(40, 40)[1] == 1.0 and wilson(20, 40)[0] == pytest.approx(0.3520, abs=1e-4)


def test_versus_compares_the_same_rung_run_on_other_histories(tmp_path):
    # the same records at another distance: the rungs' keys are the same, their answers are not
    _write_movielens(tmp_path / "ml")
    users = load_movielens(tmp_path / "ml", n_users=None, test=3, min_history=5)
    model = ScriptedChatModel(script=persona_agent_script(lambda s, m: distribution_reply({"3": 1.0})))
    resources = Resources(memory=MemoryStore.open(tmp_path / "store", embedder=HashEmbeddingFunction()), agent_model=model)
    meta = {"title": "t", "command": "c", "model": "m", "settings": "s"}
    settings = LadderSettings(rungs=("non_personalized", "memory_only"))
    run_eval(users, tmp_path / "near", resources, settings, meta)
    (tmp_path / "far" / "users").mkdir(parents=True)
    for path in (tmp_path / "near" / "users").iterdir():
        record = json.loads(path.read_text())
        record["rungs"]["memory_only"]["items"] = [{**item, "probs": {"1": 1.0}, "median": 1.0, "mean": 1.0}
                                                  for item in record["rungs"]["memory_only"]["items"]]
        (tmp_path / "far" / "users" / path.name).write_text(json.dumps(record))
    report = run_eval(users, tmp_path / "far", resources, settings, meta, report_only=True, versus=tmp_path / "near")
    assert [k for k in report["paired"] if "(near)" in k] == ["memory_only vs memory_only (near)"]
    truths = [[float(i.ground_truth) for i in u.test] for u in users]
    by_user = [sum(abs(1 - t) - abs(3 - t) for t in ts) / len(ts) for ts in truths]
    assert report["paired"]["memory_only vs memory_only (near)"]["delta"] == pytest.approx(sum(by_user) / 2)


def test_the_rungs_that_keep_statements_are_keyed_by_how_statements_are_kept_and_shown(monkeypatch):
    from personaagent.eval import ladder
    from personaagent.persona import stated
    settings = LadderSettings()
    before = {rung: settings.rung_key(rung, "m") for rung in ("default", "evidence", "persona", "memory_only")}
    for name, value in (("SAME_SUBJECT", 0.7), ("THRESHOLD", 0.4)):
        with monkeypatch.context() as patched:
            patched.setattr(stated, name, value)
            after = {rung: settings.rung_key(rung, "m") for rung in before}
        assert after["default"] != before["default"] and after["evidence"] != before["evidence"], name
        assert after["persona"] == before["persona"] and after["memory_only"] == before["memory_only"], name
    monkeypatch.setattr(ladder, "NARROWING", "the closest to the question alone")
    assert settings.rung_key("default", "m") != before["default"]
