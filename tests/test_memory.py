import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from personaagent.errors import IngestError, InvalidUserId, UnknownVersion
from personaagent.memory import Interaction, MemoryStore, read_history, read_knowledge
from personaagent.memory.ingest import parse_timestamp
from personaagent.testing import HashEmbeddingFunction

from personaagent.services.demo import demo_file

pytestmark = pytest.mark.backends("chroma", "postgres")
SUPPORT = Path(__file__).parent / "support"


def _interactions(user, *pairs, start=1000.0):
    return [
        Interaction(user_id=user, query=q, ground_truth=gt, timestamp=start + n)
        for n, (q, gt) in enumerate(pairs)
    ]


def test_search_finds_similar_memory_for_that_user_only(memory):
    memory.episodes.add(_interactions("alice", ("I went hiking in the Alps", "loved it"), ("Best pasta recipe", "carbonara")))
    memory.episodes.add(_interactions("bob", ("hiking boots for the Alps", "none")))
    hits = memory.episodes.search("alice", "hiking trip", k=5)
    assert [h.query for h in hits][0] == "I went hiking in the Alps"
    assert {h.user_id for h in hits} == {"alice"}
    assert memory.episodes.search("carol", "hiking trip", k=5) == []


def test_time_filter_returns_only_strictly_older_memories(memory):
    items = _interactions("alice", ("hiking one", "a"), ("hiking two", "b"), ("hiking three", "c"), start=100.0)
    memory.episodes.add(items)
    older = memory.episodes.search("alice", "hiking", k=10, before=102.0)
    assert sorted(i.timestamp for i in older) == [100.0, 101.0]
    assert [i.query for i in memory.episodes.list("alice", before=101.0)] == ["hiking one"]
    assert memory.episodes.search("alice", "hiking", k=10, before=100.0) == []


def test_search_is_the_exact_top_k_with_scores(memory):
    words = "hiking pasta kayak jazz opera chess garden sushi tennis poetry cinema bread".split()
    for u, user in enumerate(("alice", "bob")):
        memory.episodes.add([Interaction(user_id=user, query=f"{words[j % 12]} {words[(j * 5 + u) % 12]} {words[(j * 7) % 12]} #{j}",
                                         answer="ok", timestamp=100.0 + j) for j in range(60)])
    stored = memory.episodes.list("alice")
    vectors = np.asarray(memory.embedder([i.query for i in stored]))
    for query, k, before in (("hiking kayak", 5, None), ("jazz opera poetry", 10, 130.0), ("bread", 60, None)):
        sims = vectors @ np.asarray(memory.embedder([query])[0])
        expected = sorted((round(-float(s), 4), i.id) for s, i in zip(sims, stored) if before is None or i.timestamp < before)[:k]
        hits = memory.episodes.search("alice", query, k=k, before=before)
        assert [round(h.score, 4) for h in hits] == [-s for s, _ in expected]  # the exact scores, best first
        last = expected[-1][0]
        assert {h.id for h in hits if round(-h.score, 4) < last} == {i for s, i in expected if s < last}
        assert all(h.user_id == "alice" and (before is None or h.timestamp < before) for h in hits)


def test_labelled_filter_and_outcome_update(memory):
    memory.episodes.add([
        Interaction(user_id="alice", query="q1", answer="a1", timestamp=1.0),
        Interaction(user_id="alice", query="q2", ground_truth="g2", timestamp=2.0),
    ])
    assert [i.query for i in memory.episodes.list("alice", labelled=True)] == ["q2"]
    unlabelled = memory.episodes.list("alice", labelled=False)[0]
    memory.episodes.set_outcome("alice", unlabelled.id, ground_truth="g1", feedback="too long")
    again = memory.episodes.get("alice", unlabelled.id)
    assert (again.ground_truth, again.feedback, again.answer) == ("g1", "too long", "a1")
    assert len(memory.episodes.list("alice", labelled=True)) == 2
    with pytest.raises(KeyError):  # another user cannot touch alice's interaction
        memory.episodes.set_outcome("bob", unlabelled.id, ground_truth="x")


def test_persona_versions_history_and_isolation(memory):
    first = memory.current_persona("alice")
    assert (first.version, first.source) == (1, "initial")
    assert "alice" in first.text and "## Lookups before answering" in first.text
    second = memory.personas.save("alice", "persona two", source="manual", parent=1, loss=0.25, critique="c")
    assert second.version == 2
    history = memory.personas.history("alice")
    assert [(v.version, v.source, v.parent, v.loss) for v in history] == [(1, "initial", None, None), (2, "manual", 1, 0.25)]
    assert memory.personas.get("alice", 1).text == first.text
    assert memory.personas.history("bob") == []
    with pytest.raises(UnknownVersion, match="version 7 does not exist"):
        memory.personas.get("alice", 7)
    with pytest.raises(ValueError, match="empty persona"):
        memory.personas.save("alice", "   ", source="manual")
    assert len(memory.personas.history("alice")) == 2


def test_profile_refresh_is_versioned_and_updates_initial_persona(memory):
    from personaagent.testing import ScriptedChatModel

    memory.episodes.add(_interactions("alice", ("Film: Alien or Notting Hill?", "Alien"), ("Food: curry or salad?", "curry")))
    model = ScriptedChatModel(script=["likes science fiction\n and spicy food"])
    assert memory.profile_is_stale("alice", every=2)
    profile = memory.refresh_profile("alice", model)
    assert profile.version == 1 and profile.extra["interactions"] == 2
    assert profile.text.splitlines() == ["- requests: likes science fiction and spicy food"]
    assert not memory.profile_is_stale("alice", every=2)
    persona = memory.current_persona("alice")
    assert "- requests: likes science fiction" in persona.text and persona.source == "initial"
    # the prompt showed the user's real choices
    assert "wanted: Alien" in model.calls[0]["messages"][1].content
    assert len(model.calls) == 1  # one call per task domain; these items have none


def test_bad_user_ids_are_refused_before_any_write(memory):
    with pytest.raises(InvalidUserId):
        memory.episodes.add([Interaction(user_id="../bob", query="q", ground_truth="g")])
    with pytest.raises(InvalidUserId):
        memory.episodes.search("a/b", "q")
    with pytest.raises(InvalidUserId):
        memory.current_persona("")
    assert memory.backend.rows.count("episodes") == 0


def test_collections_reopen_in_a_new_process(store_path):
    store = MemoryStore.open(store_path, embedder=HashEmbeddingFunction())
    store.episodes.add(_interactions("alice", ("kayaking on the lake", "yes")))
    store.personas.save("alice", "persona text", source="manual")
    script = textwrap.dedent(f"""
        import chromadb, json
        import personaagent.testing  # registers the embedding function by name
        client = chromadb.PersistentClient(path={str(store_path)!r})
        col = client.get_collection("episodes")  # no embedding function passed: rebuilt from its name
        hits = col.query(query_texts=["kayaking"], n_results=1, where={{"user_id": "alice"}})
        print(json.dumps([col.configuration_json["embedding_function"]["name"], hits["documents"][0][0]]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["personaagent-hash-test", "kayaking on the lake"]


def test_a_store_reopens_in_a_new_process(memory, where):
    memory.episodes.add(_interactions("alice", ("kayaking on the lake", "yes")))
    memory.personas.save("alice", "persona text", source="manual")
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(SUPPORT)!r})
        from stores import open_store
        store = open_store({where!r})
        hits = store.episodes.search("alice", "kayaking", k=1)
        print(json.dumps([hits[0].query, store.personas.latest("alice").text]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["kayaking on the lake", "persona text"]


def test_ingest_reads_demo_history(memory):
    items = read_history("maya", demo_file("maya.jsonl"))
    assert len(items) == 20 and all(i.labelled for i in items)
    assert items[0].timestamp == parse_timestamp("2026-01-05T20:15:00Z")
    memory.episodes.add(items)
    memory.episodes.add(read_history("maya", demo_file("maya.jsonl")))  # re-ingest: same ids
    assert memory.episodes.count("maya") == 20


def test_bad_ingest_lines_are_reported_and_store_is_unchanged(memory, tmp_path):
    memory.episodes.add(_interactions("alice", ("kept", "yes")))
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([
        json.dumps({"query": "fine", "ground_truth": "ok"}),
        "{not json",
        json.dumps({"query": "", "ground_truth": "x"}),
        json.dumps({"query": "no label"}),
        json.dumps({"query": "q", "answer": "a", "timestamp": "yesterday"}),
        json.dumps(["a list"]),
        json.dumps({"query": "q", "answer": "a", "colour": "red"}),
        json.dumps({"query": "q", "answer": "a", "metadata": {"x": [1]}}),
    ]))
    with pytest.raises(IngestError) as err:
        read_history("alice", bad)
    assert [n for n, _ in err.value.problems] == [2, 3, 4, 5, 6, 7, 8]
    message = str(err.value)
    for words in ("line 2: not valid JSON", "line 3: field 'query' is empty", "line 4: needs 'ground_truth'",
                  "line 5: timestamp 'yesterday'", "line 6: expected a JSON object", "line 7: unknown field(s): colour",
                  "line 8: metadata 'x'", "nothing was stored"):
        assert words in message
    assert [i.query for i in memory.episodes.list("alice")] == ["kept"]


def test_non_utf8_ingest_file_is_refused(tmp_path):
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(b'{"query": "ok", "answer": "a"}\n{"query": "caf\xe9", "answer": "a"}\n')
    with pytest.raises(IngestError, match="line 2: not valid UTF-8"):
        read_history("alice", bad)


def test_failed_batch_removes_only_rows_it_created(memory, monkeypatch):
    memory.episodes.add(_interactions("alice", ("already there", "x")))
    items = _interactions("alice", *[(f"new {n}", "y") for n in range(5)], start=5000.0)
    real_embed = HashEmbeddingFunction.__call__
    calls = {"n": 0}

    def flaky_embed(self, input):  # each batch is embedded as it is written; the second one fails
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real_embed(self, input)

    monkeypatch.setattr(HashEmbeddingFunction, "__call__", flaky_embed)
    with pytest.raises(RuntimeError, match="disk full"):
        memory.episodes.add(items, batch_size=2)
    assert calls["n"] == 2
    assert [i.query for i in memory.episodes.list("alice")] == ["already there"]


def test_knowledge_from_csv_and_jsonl_is_per_user(memory, tmp_path):
    csv_file = tmp_path / "items.csv"
    csv_file.write_text("id,title,text,kind\nm1,Alien,A horror science fiction film,movie\nb1,Emma,A romance novel,book\n")
    memory.knowledge.add("alice", read_knowledge(csv_file))
    memory.knowledge.add("bob", read_knowledge(demo_file("catalogue.jsonl")))
    hit = memory.knowledge.search("alice", "science fiction film", k=1)[0]
    assert (hit.id, hit.title, hit.metadata) == ("m1", "Alien", {"kind": "movie"})
    assert memory.knowledge.count("alice") == 2 and memory.knowledge.count("bob") == 24
    no_text = tmp_path / "bad.csv"
    no_text.write_text("id,title\n1,x\n")
    with pytest.raises(IngestError, match="no 'text' column"):
        read_knowledge(no_text)


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "windows.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"query": "Tea or coffee?", "ground_truth": "tea", "timestamp": 100}\n')
    [item] = read_history("alice", path)
    assert (item.query, item.ground_truth, item.timestamp) == ("Tea or coffee?", "tea", 100.0)


@pytest.mark.backends("chroma")  # Postgres refuses such a row: test_postgres.py
def test_a_row_without_a_usable_time_is_skipped_not_fatal(memory):
    memory.episodes.add([Interaction(user_id="alice", query="hiking in the Alps?", ground_truth="yes", timestamp=10.0)])
    # a row as an unchecked writer could leave it: Chroma drops a non-finite value from metadata
    memory.episodes.collection.upsert(ids=["damaged"], documents=["hiking again?"],
                                      metadatas=[{"user_id": "alice", "answer": "", "labelled": False, "source": "agent"}])
    memory.episodes.vectors.bump(["alice"])
    assert [i.query for i in memory.episodes.list("alice")] == ["hiking in the Alps?"]
    assert [i.query for i in memory.episodes.search("alice", "hiking", k=4)] == ["hiking in the Alps?"]
    assert memory.episodes.get("alice", "damaged") is None
