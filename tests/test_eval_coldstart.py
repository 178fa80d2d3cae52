"""The cold-start evaluation: users known by their first k ratings, a neighbour pool that holds
nothing rated after a user's test begins, the neighbour-seeded rung beside the thin persona and
the baselines, and the report of how the gap closes as k grows."""

import json
from pathlib import Path

import pytest

from personaagent.eval.coldstart import folder, gap_report, ingest_pool, load_coldstart
from personaagent.eval.ladder import LadderSettings
from personaagent.eval.run import run_eval
from personaagent.eval.types import DatasetError
from personaagent.memory import MemoryStore
from personaagent.memory.neighbours import TITLE
from personaagent.persona.sections import section
from personaagent.resources import Resources
from personaagent.testing import HashEmbeddingFunction, ScriptedChatModel, distribution_reply, persona_agent_script

DAY = 86_400
EARLY, START, LATE = 10**8, 10**9, 2 * 10**9


def _write(root: Path) -> None:
    """Users 1 and 2 rate a film a day: their first five 3, then 5. Users 3–7 rated 20 films 5 long
    before; user 0 rated the same films 1, after every test began (as alike as the others, and
    first by id). 0 and 3–7 rated all theirs in one second, so none of them has ratings after
    their first k: only 1 and 2 can be drawn."""
    root.mkdir()
    (root / "movies.csv").write_text("movieId,title,genres\n" + "".join(f"{m},Film {m} (2000),Drama\n" for m in range(1, 61)))
    rows = ["userId,movieId,rating,timestamp"]
    for user in (1, 2):
        rows += [f"{user},{n + 1},{3.0 if n < 5 else 5.0},{START + n * DAY}" for n in range(20)]
    for user in (0, 3, 4, 5, 6, 7):
        rows += [f"{user},{n + 21},{1.0 if user == 0 else 5.0},{LATE if user == 0 else EARLY}" for n in range(20)]
    (root / "ratings.csv").write_text("\n".join(rows) + "\n")


def test_a_cold_start_user_is_known_by_their_first_k_ratings_and_borrows_only_from_before_their_test(tmp_path):
    _write(tmp_path / "ml")
    users, pool = load_coldstart(tmp_path / "ml", k=3, n_users=40, test=5, below=20)
    assert [u.user_id for u in users] == ["ml-1", "ml-2"]
    for user in users:
        assert len(user.history) == 3 and len(user.test) == 5
        assert max(h.timestamp for h in user.history) < min(i.timestamp for i in user.test)
        assert [float(i.ground_truth) for i in user.test] == [3.0, 3.0, 5.0, 5.0, 5.0]  # ratings 4 to 8
        assert all(i.attributes["baselines"]["user mean"] == 3.0 for i in user.test)  # fitted on the 3 known
        # user 0 rated after the test began: never a neighbour; the drawn users are not in the pool
        assert user.neighbour_pool == {f"ml-{p}" for p in range(3, 8)}
    assert {i.user_id for i in pool} == {f"ml-{p}" for p in (0, 3, 4, 5, 6, 7)} and len(pool) == 6 * 20
    assert [len(u.history) for u in load_coldstart(tmp_path / "ml", k=10, below=20)[0]] == [10, 10]
    with pytest.raises(DatasetError, match="must exceed k"):
        load_coldstart(tmp_path / "ml", k=20, below=20)
    with pytest.raises(DatasetError, match="k >= 1"):
        load_coldstart(tmp_path / "ml", k=0)


def test_the_pool_is_stored_once_and_a_resumed_run_skips_it(tmp_path):
    _write(tmp_path / "ml")
    _, pool = load_coldstart(tmp_path / "ml", k=3, below=20)
    memory = MemoryStore.open(tmp_path / "store", embedder=HashEmbeddingFunction())
    assert ingest_pool(memory, pool) == 6 and memory.episodes.count("ml-3") == 20
    assert ingest_pool(memory, pool) == 0
    memory.forget_user("ml-5")
    assert ingest_pool(memory, pool) == 1 and memory.episodes.count("ml-5") == 20


def test_the_neighbour_seeded_rung_answers_with_what_similar_users_share(tmp_path):
    _write(tmp_path / "ml")
    seen = []

    def rate(system, messages):  # 5 with a borrowed section, 3 without
        seen.append(system)
        return distribution_reply({"5": 1.0} if TITLE in system else {"3": 1.0})

    model = ScriptedChatModel(script=persona_agent_script(rate))
    settings = LadderSettings(rungs=("non_personalized", "persona", "neighbours"), cold_start_below=20)
    reports = {}
    for k in (3, 5):
        users, pool = load_coldstart(tmp_path / "ml", k=k, below=20)
        memory = MemoryStore.open(tmp_path / f"store{k}", embedder=HashEmbeddingFunction())
        ingest_pool(memory, pool)
        meta = {"title": f"k{k}", "command": "c", "model": "m", "settings": "s"}
        reports[k] = run_eval(users, folder(tmp_path / "cs", k), Resources(memory=memory, agent_model=model), settings, meta)
    borrowed = [section(s, TITLE) for s in seen if TITLE in s]
    assert borrowed and all("ratings average 5.00" in b and "Liked by several of them: film 21 2000 (5 of 5)" in b
                            for b in borrowed)
    assert not any("Avoided" in b or "ml-" in b for b in borrowed)  # nothing of user 0, no id
    report = reports[3]
    truths = [3.0, 3.0, 5.0, 5.0, 5.0]
    assert report["rungs"]["neighbours"]["MAE"] == pytest.approx(sum(abs(5 - t) for t in truths) / 5)
    assert report["rungs"]["persona"]["MAE"] == pytest.approx(sum(abs(3 - t) for t in truths) / 5)
    seeded = report["neighbours"]
    assert (seeded["users"], seeded["borrowed"], seeded["found_per_user"]) == (2, 2, 5.0)
    assert 0.1 <= seeded["mean_similarity"] <= 1.0  # no neighbour below the floor
    assert {"neighbours vs persona", "neighbours vs non_personalized", "neighbours vs bias baseline",
            "neighbours vs item mean", "neighbours vs user mean"} <= set(report["paired"])
    record = json.loads((folder(tmp_path / "cs", 3) / "users" / "ml-1.json").read_text())
    assert record["neighbours"]["found"] == 5 and "ground_truth" not in json.dumps(record)
    text = gap_report(reports, tmp_path / "cs-gap")
    # k = 3: the test is ratings 4–8 (3, 3, 5, 5, 5); k = 5: ratings 6–10 (all 5)
    assert "| neighbour-seeded | 0.800 [0.800, 0.800] | 0.000 [0.000, 0.000] |" in text
    assert "| thin persona (own k ratings) | 1.200 [1.200, 1.200] | 2.000 [2.000, 2.000] |" in text
    assert "| neighbours vs persona | -0.400 [-0.400, -0.400]: " in text and "| -2.000 [-2.000, -2.000]: " in text
    assert (tmp_path / "cs-gap" / "gap.png").read_bytes().startswith(b"\x89PNG")
    assert "k = 3 (2 users)" in text and "k = 5 (2 users)" in text


def test_nothing_borrowed_leaves_the_thin_persona_and_reuses_its_answers(tmp_path):
    _write(tmp_path / "ml")
    users, _ = load_coldstart(tmp_path / "ml", k=3, below=20)  # the pool is never stored: no neighbours
    model = ScriptedChatModel(script=persona_agent_script(lambda s, m: distribution_reply({"4": 1.0})))
    memory = MemoryStore.open(tmp_path / "store", embedder=HashEmbeddingFunction())
    meta = {"title": "t", "command": "c", "model": "m", "settings": "s"}
    run_eval(users, tmp_path / "out", Resources(memory=memory, agent_model=model),
             LadderSettings(rungs=("persona", "neighbours")), meta)
    record = json.loads((tmp_path / "out" / "users" / "ml-1.json").read_text())
    assert record["neighbours"] == {"found": 0, "borrowed": False, "similarity": []}
    assert record["rungs"]["neighbours"]["same_as"] == "persona"
    assert record["rungs"]["neighbours"]["items"] == record["rungs"]["persona"]["items"]
