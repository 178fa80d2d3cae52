"""Searches served from the in-process vector cache: exact, isolated, bounded, and never stale
after a write by this process, another store object or another process."""

import random
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest

from personaagent.memory import Interaction, MemoryStore
from personaagent.memory import vector_cache
from personaagent.memory.episodic import user_filter
from personaagent.testing import HashEmbeddingFunction

from support.processes import chroma_server

def _open(path=None, **kw) -> MemoryStore:
    """A store that caches from its first row (by default only collections of 20k rows or more do)."""
    kw.setdefault("cache_from_rows", 0)
    return MemoryStore.open(path, embedder=HashEmbeddingFunction(), **kw)


@pytest.fixture
def memory(store_path) -> MemoryStore:
    return _open(store_path)


WORDS = "hiking pasta kayak jazz opera chess garden sushi tennis poetry cinema bread climbing violin".split()


def _rows(user, n, seed=0, start=1000.0):
    rng = random.Random(f"{user}-{seed}")
    return [Interaction(user_id=user, query=" ".join(rng.sample(WORDS, 3)) + f" #{seed}-{j}", answer="ok",
                        timestamp=start + j) for j in range(n)]


def _exact(memory, user, query, k, before=None):
    """Brute force over what Chroma stores for the user: the expected answer, computed independently."""
    got = memory.episodes.collection.get(where=user_filter(user, before), include=["embeddings"])
    if not got["ids"]:
        return []
    vectors = np.asarray(got["embeddings"], dtype=np.float64)
    q = np.asarray(memory.embedder([query])[0], dtype=np.float64)
    sims = vectors @ q / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(q))
    order = sorted(range(len(sims)), key=lambda i: -sims[i])[:k]
    return [(got["ids"][i], round(float(sims[i]), 5)) for i in order]


def _assert_same_ranking(hits, expected):
    """Same scores in the same order; the same ids wherever the score is not tied with the last."""
    assert [round(h.score, 4) for h in hits] == [round(s, 4) for _, s in expected]
    if hits:
        last = round(hits[-1].score, 4)
        assert {h.id for h in hits if round(h.score, 4) > last} == {i for i, s in expected if round(s, 4) > last}


def test_cached_search_is_the_exact_top_k_with_scores_and_time_filter(memory):
    for user in ("alice", "bob", "carol"):
        memory.episodes.add(_rows(user, 60))
    for query in ("hiking kayak", "jazz opera violin", "bread", "nothing in common"):
        for k in (1, 4, 100):
            hits = memory.episodes.search("alice", query, k=k)
            assert {h.user_id for h in hits} == {"alice"}
            _assert_same_ranking(hits, _exact(memory, "alice", query, k))
        older = memory.episodes.search("alice", query, k=10, before=1010.0)
        assert len(older) == 10 and all(h.timestamp < 1010.0 for h in older)
        _assert_same_ranking(older, _exact(memory, "alice", query, 10, before=1010.0))
    assert memory.episodes.vectors.cached_users() == ["alice"]
    assert memory.episodes.search("alice", "hiking", k=5, before=0.0) == []
    assert memory.episodes.search("nobody", "hiking", k=5) == []


def test_cached_search_agrees_with_chromas_index(store_path):
    cached = _open(store_path)
    uncached = _open(store_path, cache_rows=0)
    cached.episodes.add(_rows("alice", 40) + _rows("bob", 40))
    for query in ("hiking pasta", "chess garden sushi"):
        a = cached.episodes.search("alice", query, k=5)
        b = uncached.episodes.search("alice", query, k=5)
        _assert_same_ranking(a, [(h.id, h.score) for h in b])
        by_id = {h.id: replace(h, score=None) for h in b}
        assert all(replace(h, score=None) == by_id[h.id] for h in a if h.id in by_id)  # same fields either way
    assert uncached.episodes.vectors.cached_users() == []


def test_writes_through_another_store_object_are_seen_at_once(store_path):
    reader = _open(store_path)
    writer = _open(store_path)
    writer.episodes.add(_rows("alice", 5))
    assert len(reader.episodes.search("alice", "hiking", k=50)) == 5  # now cached by the reader

    new = Interaction(user_id="alice", query="zeppelin ride over the bay", answer="ok", timestamp=5000.0)
    writer.episodes.add([new])
    assert reader.episodes.search("alice", "zeppelin ride", k=1)[0].id == new.id

    writer.episodes.set_outcome("alice", new.id, ground_truth="loved it")
    assert reader.episodes.search("alice", "zeppelin ride", k=1)[0].ground_truth == "loved it"

    writer.forget_user("alice")
    assert reader.episodes.search("alice", "zeppelin ride", k=5) == []
    assert writer.episodes.vectors.revisions.get(ids=["alice"])["ids"] == []


def test_writes_by_another_process_through_a_chroma_server_are_seen(tmp_path):
    """Several processes share a store through a Chroma server (a persistent directory's vector
    index is loaded per process, so Chroma itself cannot serve vectors written by another one)."""
    with chroma_server(tmp_path) as port:
        reader = _open(host="127.0.0.1", port=port)
        reader.episodes.add(_rows("alice", 3))
        assert len(reader.episodes.search("alice", "hiking", k=10)) == 3 and reader.episodes.vectors.cached_users()
        script = textwrap.dedent(f"""
            from personaagent.memory import Interaction, MemoryStore
            from personaagent.testing import HashEmbeddingFunction
            store = MemoryStore.open(host="127.0.0.1", port={port}, embedder=HashEmbeddingFunction())
            store.episodes.add([Interaction(user_id="alice", query="zeppelin ride", answer="ok", timestamp=9.0)])
        """)
        subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
        hits = reader.episodes.search("alice", "zeppelin ride", k=10)
        assert len(hits) == 4 and hits[0].query == "zeppelin ride"


def test_rows_read_during_a_write_that_fails_are_not_kept(memory, monkeypatch):
    memory.episodes.add(_rows("alice", 3))
    real_upsert = memory.episodes.collection.upsert
    seen_during_the_write = []

    def upsert_then_fail(**kw):
        if seen_during_the_write:
            raise RuntimeError("disk full")
        real_upsert(**kw)  # the first batch lands, a search caches it, then the second batch fails
        seen_during_the_write.append(len(memory.episodes.search("alice", "hiking", k=50)))

    monkeypatch.setattr(memory.episodes.collection, "upsert", upsert_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        memory.episodes.add(_rows("alice", 4, seed=1), batch_size=2)
    assert seen_during_the_write == [5]
    assert len(memory.episodes.search("alice", "hiking", k=50)) == 3  # the rolled-back rows are gone


def test_memory_is_bounded_and_large_users_go_to_chroma(store_path):
    memory = _open(store_path, cache_rows=25)
    for user in ("u1", "u2", "u3"):
        memory.episodes.add(_rows(user, 10))
    memory.episodes.add(_rows("big", 30))
    for user in ("u1", "u2", "u3"):
        assert len(memory.episodes.search(user, "hiking", k=50)) == 10
    assert memory.episodes.vectors.cached_users() == ["u2", "u3"]  # 30 rows would exceed 25: u1 dropped

    big = memory.episodes.search("big", "hiking kayak", k=5)  # Chroma's HNSW: exact at this size
    _assert_same_ranking(big, _exact(memory, "big", "hiking kayak", 5))
    assert all(h.user_id == "big" for h in big)
    assert memory.episodes.vectors.cached_users() == ["u2", "u3"] and memory.episodes.vectors.cached_rows == 20


def test_the_writing_process_reloads_in_the_background(memory, monkeypatch):
    memory.episodes.add(_rows("alice", 3))
    memory.episodes.search("alice", "hiking", k=10)
    new = Interaction(user_id="alice", query="zeppelin ride", answer="ok", timestamp=9000.0)
    memory.episodes.add([new])
    vector_cache._reloads.submit(lambda: None).result()  # the reload queued by the write has run

    def no_loading(**kw):
        raise AssertionError(f"search loaded rows again: {kw}")

    monkeypatch.setattr(memory.episodes.collection, "get", no_loading)
    assert memory.episodes.search("alice", "zeppelin ride", k=1)[0].id == new.id


def test_small_collections_are_searched_in_chroma_until_they_grow(store_path, monkeypatch):
    monkeypatch.setattr(vector_cache, "RESIZE_CHECK_SECONDS", 0.0)  # re-read the size on every search
    memory = _open(store_path, cache_from_rows=50)
    memory.episodes.add(_rows("alice", 30))
    assert len(memory.episodes.search("alice", "hiking", k=100)) == 30
    assert memory.episodes.vectors.cached_users() == []
    memory.episodes.add(_rows("bob", 30))
    assert len(memory.episodes.search("alice", "hiking", k=100)) == 30
    assert memory.episodes.vectors.cached_users() == ["alice"]


def test_warm_up_loads_every_user_so_first_searches_read_no_rows(store_path, monkeypatch):
    monkeypatch.setattr(vector_cache, "WARM_PAGE_ROWS", 7)  # 40 rows: six pages, users split across them
    writer = _open(store_path)
    users = ["alice", "bob", "carol", "dave"]
    for user in users:
        writer.episodes.add(_rows(user, 10))
    expected = {user: _exact(writer, user, "hiking kayak", 5) for user in users}

    server = _open(store_path)  # a fresh process's view: nothing cached
    assert server.warm_cache().result() == 4
    assert sorted(server.episodes.vectors.cached_users()) == users
    real_get = server.episodes.collection.get

    def no_row_loading(**kw):
        assert "where" not in kw, f"a search loaded rows although the cache was warm: {kw}"
        return real_get(**kw)

    monkeypatch.setattr(server.episodes.collection, "get", no_row_loading)
    for user in users:
        _assert_same_ranking(server.episodes.search(user, "hiking kayak", k=5), expected[user])

    monkeypatch.setattr(server.episodes.collection, "get", real_get)
    new = Interaction(user_id="bob", query="hiking kayak zeppelin", answer="ok", timestamp=5000.0)
    writer.episodes.add([new])  # after the warm-up, by another store object: the revision check sees it
    assert new.id in {h.id for h in server.episodes.search("bob", "hiking kayak zeppelin", k=3)}


def test_warm_up_keeps_to_its_bounds(store_path):
    writer = _open(store_path)
    writer.episodes.add(_rows("alice", 10))
    writer.episodes.add(_rows("big", 30))
    assert _open(store_path, cache_rows=39).warm_cache().result() == 0  # 40 rows do not fit
    assert _open(store_path, cache_rows=0).warm_cache().result() == 0
    assert _open(store_path, cache_from_rows=41).warm_cache().result() == 0  # small: Chroma serves it

    server = _open(store_path)
    server.episodes.vectors.max_user_rows = 20
    assert server.warm_cache().result() == 2
    assert server.episodes.vectors.cached_users() == ["alice"]  # "big" is marked too large, holds no rows
    _assert_same_ranking(server.episodes.search("big", "hiking kayak", k=5), _exact(server, "big", "hiking kayak", 5))


def test_a_delete_during_warm_up_discards_the_pass(store_path, monkeypatch):
    monkeypatch.setattr(vector_cache, "WARM_PAGE_ROWS", 7)
    writer = _open(store_path)
    for user in ("alice", "bob", "carol"):
        writer.episodes.add(_rows(user, 10))
    server = _open(store_path)
    real_get, pages = server.episodes.collection.get, []

    def get_then_forget_alice(**kw):
        got = real_get(**kw)
        if "offset" in kw and not pages:
            writer.forget_user("alice")  # shifts every later page back by alice's 10 rows
        pages.append(kw.get("offset"))
        return got

    monkeypatch.setattr(server.episodes.collection, "get", get_then_forget_alice)
    assert server.warm_cache().result() == 0
    assert server.episodes.vectors.cached_users() == []
    monkeypatch.setattr(server.episodes.collection, "get", real_get)
    assert server.episodes.search("alice", "hiking", k=5) == []
    for user in ("bob", "carol"):
        hits = server.episodes.search(user, "hiking kayak", k=20)
        assert len(hits) == 10
        _assert_same_ranking(hits, _exact(server, user, "hiking kayak", 20))


def test_the_graphs_stores_warm_up_when_asked(tmp_path, monkeypatch):
    from personaagent.context import Context
    from personaagent.memory import store

    warmed = []
    monkeypatch.setattr(store.MemoryStore, "warm_cache", lambda self: warmed.append(self))
    for setting, path in (("", "plain"), ("1", "warm")):
        monkeypatch.setenv("PERSONAAGENT_WARM_CACHE", setting)
        opened = store.memory_for(Context(user_id="u", chroma_path=str(tmp_path / path)))
        assert warmed[-1:] == ([opened] if setting else [])


def test_a_cached_user_with_a_row_without_a_time_still_searches(memory):
    memory.episodes.add(_rows("alice", 5))
    memory.episodes.collection.upsert(ids=["damaged"], documents=["hiking pasta kayak"],
                                      metadatas=[{"user_id": "alice", "answer": "", "labelled": False, "source": "agent"}])
    memory.episodes.vectors.bump(["alice"])
    hits = memory.episodes.search("alice", "hiking pasta kayak", k=10)
    assert memory.episodes.vectors.rows("alice") is not None  # served from the cache
    assert len(hits) == 5 and "damaged" not in {h.id for h in hits}
    assert len(memory.episodes.search("alice", "hiking pasta kayak", k=10, before=1002.5)) == 3
