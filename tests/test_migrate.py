"""`personaagent migrate`: every collection of every user copied Chroma → Postgres → Chroma, with
counts and checksums equal on both sides; an interrupted copy resumes and writes only the rest; a
second run writes nothing; a target that holds more than the source is reported, not trimmed."""

from __future__ import annotations

import pytest

from personaagent import cli
from personaagent.memory import Interaction, KnowledgeItem, MemoryStore
from personaagent.memory.migrate import checksum, migrate
from personaagent.memory.rows import COLLECTIONS
from personaagent.testing import HashEmbeddingFunction

USERS = ["alice", "bob", "a.b@example.com"]


def seed(store: MemoryStore) -> None:
    for n, user in enumerate(USERS):
        store.episodes.add([
            Interaction(user_id=user, query=f"{user} asks about hiking trip {j}", ground_truth="yes" if j % 2 else None,
                        answer="sure", feedback="short please" if j == 3 else None, timestamp=1000.0 + j,
                        metadata={"domain": "travel", "j": j}, options=["yes", "no"] if j % 2 else None,
                        scale={"low": 1, "high": 5, "step": 1} if j == 4 else None)
            for j in range(7 + n)])
        store.profiles.save(user, f"{user} likes hiking", source="summary", interactions=7 + n)
        store.current_persona(user)
        store.personas.save(user, f"{user}'s second persona", source="manual", parent=1, loss=0.25, critique="c")
        store.knowledge.add(user, [KnowledgeItem(id=f"k{j}", text=f"trail guide {j} for {user}", title=f"T{j}",
                                                 metadata={"kind": "guide"}) for j in range(3)])
        run = store.runs.start(user, "manual")
        store.runs.finish(run, "finished", {"accepted": 1})
    store.runs.start("alice", "scheduled")  # one still running


def same_memory(a: MemoryStore, b: MemoryStore) -> None:
    for user in USERS:
        assert [(i.id, i.query, i.ground_truth, i.options, i.scale, i.metadata) for i in a.episodes.list(user)] == \
               [(i.id, i.query, i.ground_truth, i.options, i.scale, i.metadata) for i in b.episodes.list(user)]
        hits = [[(h.id, round(h.score, 4)) for h in s.episodes.search(user, "hiking trip 3", k=3)] for s in (a, b)]
        assert [s for _, s in hits[0]] == [s for _, s in hits[1]]  # same scores; same ids but among ties
        assert [i for i, s in hits[0] if s > hits[0][-1][1]] == [i for i, s in hits[1] if s > hits[1][-1][1]]
        for kind in ("profiles", "personas"):
            assert [(v.version, v.text, v.source, v.parent, v.loss, v.extra) for v in getattr(a, kind).history(user)] == \
                   [(v.version, v.text, v.source, v.parent, v.loss, v.extra) for v in getattr(b, kind).history(user)]
        found = [sorted((-round(k.score, 4), k.id) for k in s.knowledge.search(user, "trail guide 2", k=3)) for s in (a, b)]
        assert found[0] == found[1]
        assert a.runs.history(user) == b.runs.history(user)


def test_chroma_to_postgres_and_back_copies_everything(tmp_path, new_database):
    chroma = MemoryStore.open(tmp_path / "a", embedder=HashEmbeddingFunction())
    seed(chroma)
    postgres = MemoryStore.open(url=new_database(), embedder=HashEmbeddingFunction())

    reports = migrate(chroma, postgres, page_rows=4)
    counts = {r.collection: r.source_rows for r in reports}
    assert counts == {"episodes": 7 + 8 + 9, "profiles": 3, "personas": 6, "knowledge": 9, "optimizer_runs": 4}
    assert all(r.matches and r.written == r.source_rows for r in reports)
    same_memory(chroma, postgres)

    again = migrate(chroma, postgres, page_rows=4)
    assert [(r.written, r.matches) for r in again] == [(0, True)] * len(COLLECTIONS)

    back = MemoryStore.open(tmp_path / "b", embedder=HashEmbeddingFunction())
    assert all(r.matches for r in migrate(postgres, back))
    same_memory(chroma, back)
    for collection in COLLECTIONS:  # the round trip changed no byte of any row (nor any episode vector)
        assert checksum(chroma, collection).hexdigest() == checksum(back, collection).hexdigest()
    postgres.close()


def test_an_interrupted_migration_resumes_and_writes_only_the_rest(tmp_path, new_database, monkeypatch):
    chroma = MemoryStore.open(tmp_path / "a", embedder=HashEmbeddingFunction())
    seed(chroma)
    url = new_database()
    postgres = MemoryStore.open(url=url, embedder=HashEmbeddingFunction())
    real_write, pages = postgres.backend.rows.write, []

    def killed_at_the_third_page(collection, rows):
        if len(pages) == 2:
            raise KeyboardInterrupt
        pages.append(len(rows))
        real_write(collection, rows)

    monkeypatch.setattr(postgres.backend.rows, "write", killed_at_the_third_page)
    with pytest.raises(KeyboardInterrupt):
        migrate(chroma, postgres, page_rows=5)
    assert pages == [5, 5] and postgres.backend.rows.count("episodes") == 10
    monkeypatch.undo()
    postgres.close()

    resumed = MemoryStore.open(url=url, embedder=HashEmbeddingFunction())  # a new process, as after a kill
    reports = {r.collection: r for r in migrate(chroma, resumed, page_rows=5)}
    assert all(r.matches for r in reports.values())
    assert reports["episodes"].written == 24 - 10 and reports["personas"].written == 6
    same_memory(chroma, resumed)
    resumed.close()


def test_the_command_copies_checks_and_refuses(tmp_path, new_database, capsys):
    source = tmp_path / "chroma"
    store = MemoryStore.open(source)  # the configured (default) embedder, as the command opens it
    store.episodes.add([Interaction(user_id="alice", query="Tea or coffee?", ground_truth="tea", timestamp=1.0)])
    store.current_persona("alice")
    url = new_database()

    assert cli.main(["migrate", "--from", str(source), "--to", url]) == 0
    out = capsys.readouterr().out
    assert "copied: 2 rows, 2 written this run; counts and checksums match" in out
    assert cli.main(["migrate", "--from", str(source), "--to", url]) == 0
    assert "2 rows, 0 written this run" in capsys.readouterr().out

    extra = MemoryStore.open(url=url)
    extra.episodes.add([Interaction(user_id="zed", query="only in the target", answer="x", timestamp=2.0)])
    assert cli.main(["migrate", "--from", str(source), "--to", url]) == 2
    err = capsys.readouterr().err
    assert "the target differs from the source in episodes" in err and "nothing was deleted" in err
    assert extra.episodes.count("zed") == 1
    extra.close()

    assert cli.main(["migrate", "--from", str(tmp_path / "nowhere"), "--to", url]) == 2
    assert "no Chroma store at" in capsys.readouterr().err
    assert cli.main(["migrate", "--from", url, "--to", url]) == 2
    assert "the same store" in capsys.readouterr().err
