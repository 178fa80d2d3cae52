"""Concurrent writers lose nothing, and two optimizations of one user never both store a persona
built on the same version: threads of one process, and processes sharing a Chroma directory, a
Chroma server or a Postgres database."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from personaagent.graphs.optimizer import build_optimizer_graph
from personaagent.persona.sections import section
from personaagent.memory import Interaction, MemoryStore, memory_for
from personaagent.persona.losses import Score
from personaagent.resources import Resources
from personaagent.testing import HashEmbeddingFunction, ScriptedChatModel, persona_agent_script

from support.processes import chroma_server
from support.stores import open_store

pytestmark = pytest.mark.backends("chroma", "postgres")

ROOT = Path(__file__).resolve().parents[1]
WRITER = str(ROOT / "tests/support/writer.py")


def test_eight_writers_in_one_process_lose_nothing(memory):
    def write(worker: int) -> list[str]:
        ids = []
        for n in range(40):
            ids += memory.episodes.add([Interaction(user_id="alice", query=f"w{worker} request {n}", answer="ok",
                                                    timestamp=1000.0 + n)])
        return ids

    with ThreadPoolExecutor(8) as pool:
        written = [i for ids in pool.map(write, range(8)) for i in ids]
    stored = memory.episodes.list("alice")
    assert len(written) == len(set(written)) == 320
    assert {i.id for i in stored} == set(written)


def test_first_use_of_a_store_from_many_threads_opens_it_once(context_for):
    context = context_for("default")
    with ThreadPoolExecutor(8) as pool:
        stores = list(pool.map(lambda _: memory_for(context), range(8)))
    assert all(s is stores[0] for s in stores)


def race(where: str) -> None:
    procs = [subprocess.Popen([sys.executable, WRITER, where, tag, "150"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for tag in ("A", "B")]
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-2000:]


def test_two_processes_writing_one_users_memory_in_a_directory_or_database(where):
    race(where)
    store = open_store(where)
    stored = store.episodes.list("alice")
    assert sorted(i.query for i in stored) == sorted(f"{t} request {n}" for t in "AB" for n in range(150))
    store.close()


def test_two_processes_writing_one_users_memory_on_a_chroma_server(tmp_path):
    with chroma_server(tmp_path) as port:
        race(f"127.0.0.1:{port}")
        stored = MemoryStore.open(host="127.0.0.1", port=port, embedder=HashEmbeddingFunction()).episodes.list("alice")
        assert sorted(i.query for i in stored) == sorted(f"{t} request {n}" for t in "AB" for n in range(150))


def test_two_optimizations_of_one_user_never_interleave_their_rewrites(memory, context_for):
    memory.episodes.add([Interaction(user_id="alice", query=f"question {n}", ground_truth="RIGHT", timestamp=100.0 + n)
                         for n in range(4)])
    both_rewriting = threading.Barrier(2, timeout=30)

    def optimizer(persona_text: str):
        respond = persona_agent_script(lambda system, messages: "RIGHT" if "GOOD" in system.split("## Retrieved")[0] else "WRONG",
                                       rewrite=persona_text)

        def script(messages, kwargs):
            if str(messages[0].content).startswith("You rewrite the section"):
                both_rewriting.wait()  # both runs hold a candidate built on v1 before either decides
            return respond(messages, kwargs)

        graph = build_optimizer_graph(Resources(memory=memory, agent_model=ScriptedChatModel(script=script),
                                                metric=lambda s, a: Score(0.0 if a == "RIGHT" else 1.0, a))).compile()
        return graph.invoke({"max_iters": 1, "operators": ["section"], "candidates": 1}, context=context_for("alice"))

    memory.current_persona("alice")
    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(optimizer, ["- GOOD persona one.", "- GOOD persona two."]))
    outcomes = sorted(out["loss_curve"][-1]["outcome"] for out in outs)
    assert outcomes == ["accepted", "conflict"]
    history = memory.personas.history("alice")
    assert [(v.version, v.source, v.parent) for v in history] == [(1, "initial", None), (2, "optimizer", 1)]
    winner, loser = sorted(outs, key=lambda out: -out["accepted"])
    assert section(history[-1].text, "What you know about this user") in ("- GOOD persona one.", "- GOOD persona two.")
    assert (winner["final_version"], loser["final_version"], loser["stop_reason"]) == (2, 1, "conflict")


def persona_race(where: str, store: MemoryStore, tmp_path: Path, trials: int = 6) -> None:
    """Two processes save a persona on top of version 1 of the same user at the same moment,
    ``trials`` times: exactly one is told it was saved, and that is the text stored."""
    for trial in range(trials):
        store.current_persona(f"user{trial}")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = {tag: subprocess.Popen([sys.executable, str(ROOT / "tests/support/persona_saver.py"), where, tag, str(barrier),
                                    str(trials)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for tag in ("A", "B")}
    told = {}
    for tag, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-2000:]
        told[tag] = dict(line.split(" ", 1) for line in out.splitlines())
    for trial in range(trials):
        saved = [tag for tag in "AB" if told[tag][str(trial)] == "saved v2"]
        assert len(saved) == 1, f"trial {trial}: {told['A'][str(trial)]!r} and {told['B'][str(trial)]!r}"
        assert {told[tag][str(trial)] for tag in "AB"} == {"saved v2", "conflict"}
        history = store.personas.history(f"user{trial}")
        assert [(v.version, v.parent) for v in history] == [(1, None), (2, 1)]
        assert history[-1].text == f"persona by {saved[0]}"


def test_two_processes_saving_a_persona_at_once_in_a_directory_or_database(where, tmp_path):
    store = open_store(where)
    persona_race(where, store, tmp_path)
    store.close()


def test_two_processes_saving_a_persona_at_once_on_a_chroma_server(tmp_path):
    with chroma_server(tmp_path) as port:
        store = MemoryStore.open(host="127.0.0.1", port=port, embedder=HashEmbeddingFunction())
        persona_race(f"127.0.0.1:{port}", store, tmp_path)
