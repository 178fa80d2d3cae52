"""What the Postgres backend guarantees beyond the shared memory tests: the database refuses rows
no reader could use, versioned writes and outcome merges hold under concurrent writers, processes
see each other's writes at once, a database is tied to one embedder, schema creation is safe when
processes open a new database together, and chat threads live in the database."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from langchain_core.messages import HumanMessage
from psycopg.types.json import Jsonb

from personaagent.errors import PersonaAgentError, VersionConflict
from personaagent.graphs.agent import build_agent_graph
from personaagent.memory import Interaction, KnowledgeItem, MemoryStore
from personaagent.memory.embeddings import MiniLMEmbeddingFunction
from personaagent.memory.rows import COLLECTIONS
from personaagent.resources import Resources
from personaagent.testing import HashEmbeddingFunction, ScriptedChatModel, persona_agent_script

pytestmark = pytest.mark.backends("postgres")
SUPPORT = Path(__file__).parent / "support"


def in_another_process(where: str, code: str) -> str:
    script = f"import sys\nsys.path.insert(0, {str(SUPPORT)!r})\nfrom stores import open_store\n" \
             f"store = open_store({where!r})\n" + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("timestamp", [float("nan"), float("inf"), None])
def test_a_row_without_a_usable_time_is_refused_by_the_database(memory, location, timestamp):
    memory.episodes.add([Interaction(user_id="alice", query="hiking in the Alps?", ground_truth="yes", timestamp=10.0)])
    with psycopg.connect(location["url"]) as conn, pytest.raises(psycopg.errors.IntegrityError):
        conn.execute("""INSERT INTO personaagent_episodes VALUES ('alice', 'damaged', %s, false, 'hiking again?', %s,
                        (SELECT embedding FROM personaagent_episodes LIMIT 1))""",
                     (timestamp, Jsonb({"user_id": "alice", "answer": ""})))
    assert [i.query for i in memory.episodes.list("alice")] == ["hiking in the Alps?"]


def test_a_row_of_one_user_cannot_claim_to_be_anothers(memory, location):
    memory.episodes.add([Interaction(user_id="alice", query="hiking?", ground_truth="yes", timestamp=10.0)])
    with psycopg.connect(location["url"]) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE personaagent_episodes SET metadata = metadata || '{\"user_id\": \"bob\"}'")


def test_one_of_many_threads_stores_a_version_the_others_are_told(memory):
    memory.current_persona("alice")
    start = threading.Barrier(8)

    def save(n: int) -> str:
        start.wait()
        try:
            return f"saved v{memory.personas.save('alice', f'persona {n}', source='manual', after=1).version}"
        except VersionConflict:
            return "conflict"

    with ThreadPoolExecutor(8) as pool:
        told = list(pool.map(save, range(8)))
    assert sorted(told) == ["conflict"] * 7 + ["saved v2"]
    history = memory.personas.history("alice")
    assert [v.version for v in history] == [1, 2] and history[1].text == f"persona {told.index('saved v2')}"


def test_appends_from_many_threads_get_consecutive_versions(memory):
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda n: memory.profiles.save("alice", f"profile {n}", source="summary"), range(6)))
    history = memory.profiles.history("alice")
    assert [v.version for v in history] == [1, 2, 3, 4, 5, 6]
    assert sorted(v.text for v in history) == [f"profile {n}" for n in range(6)]


def test_outcomes_set_at_once_by_two_writers_are_both_kept(memory):
    [item_id] = memory.episodes.add([Interaction(user_id="alice", query="Tea or coffee?", answer="tea", timestamp=1.0)])
    start = threading.Barrier(2)

    def set_one(field: str) -> None:
        start.wait()
        memory.episodes.set_outcome("alice", item_id, **{field: "coffee" if field == "ground_truth" else "too short"})

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(set_one, ["ground_truth", "feedback"]))
    item = memory.episodes.get("alice", item_id)
    assert (item.ground_truth, item.feedback, item.labelled) == ("coffee", "too short", True)
    assert [i.id for i in memory.episodes.list("alice", labelled=True)] == [item_id]


def test_writes_by_another_process_are_seen_at_once(memory, where):
    memory.episodes.add([Interaction(user_id="alice", query="hiking pasta", answer="ok", timestamp=1.0)])
    assert [h.query for h in memory.episodes.search("alice", "zeppelin ride", k=5)] == ["hiking pasta"]
    [new_id] = in_another_process(where, """
        from personaagent.memory import Interaction
        print(store.episodes.add([Interaction(user_id="alice", query="zeppelin ride", answer="ok", timestamp=2.0)])[0])
    """).split()
    assert memory.episodes.search("alice", "zeppelin ride", k=1)[0].id == new_id
    in_another_process(where, f"store.episodes.set_outcome('alice', {new_id!r}, ground_truth='loved it')")
    assert memory.episodes.search("alice", "zeppelin ride", k=1)[0].ground_truth == "loved it"
    in_another_process(where, "store.forget_user('alice')")
    assert memory.episodes.search("alice", "zeppelin ride", k=5) == []


def test_forget_user_leaves_nothing_of_theirs_and_everything_of_others(memory):
    for user in ("alice", "bob"):
        memory.episodes.add([Interaction(user_id=user, query="q", ground_truth="g", timestamp=1.0)])
        memory.current_persona(user)
        memory.profiles.save(user, "profile", source="summary")
        memory.knowledge.add(user, [KnowledgeItem(id="k", text="note")])
        memory.runs.finish(memory.runs.start(user, "manual"), "finished")
    memory.forget_user("alice")
    rows = {c: [r.metadata["user_id"] for page in memory.backend.rows.pages(c, 10) for r in page] for c in COLLECTIONS}
    assert rows == {c: ["bob"] for c in COLLECTIONS}


def test_a_database_keeps_to_the_embedder_it_was_made_with(memory, location):
    memory.episodes.add([Interaction(user_id="alice", query="q", answer="a", timestamp=1.0)])
    with pytest.raises(PersonaAgentError, match="holds vectors of the embedder 'personaagent-hash-test'"):
        MemoryStore.open(**location, embedder=MiniLMEmbeddingFunction())
    assert memory.episodes.count("alice") == 1


def test_processes_opening_a_new_database_together_create_it_once(new_database):
    url = new_database()
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
                 import sys
                 sys.path.insert(0, {str(SUPPORT)!r})
                 from stores import open_store
                 from personaagent.memory import Interaction
                 open_store({url!r}).episodes.add([Interaction(user_id="u{n}", query="q", answer="a", timestamp=1.0)])
             """)], stderr=subprocess.PIPE, text=True) for n in range(4)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()[-2000:]
    store = MemoryStore.open(url=url, embedder=HashEmbeddingFunction())
    assert store.backend.rows.count("episodes") == 4
    store.close()


def test_a_chat_thread_lives_in_the_database(memory, location, context_for):
    model = ScriptedChatModel(script=persona_agent_script("Try the kayaking tour"))
    config = {"configurable": {"thread_id": "alice:saturday"}}
    with memory.checkpointer("/nonexistent/threads.sqlite") as saver:
        graph = build_agent_graph(Resources(memory=memory, agent_model=model)).compile(checkpointer=saver)
        graph.invoke({"messages": [HumanMessage("I love kayaking, what should I do on Saturday?")]}, config,
                     context=context_for("alice"))
    other = MemoryStore.open(**location, embedder=HashEmbeddingFunction())  # as another machine would
    with other.checkpointer() as saver:
        graph = build_agent_graph(Resources(memory=other, agent_model=model)).compile(checkpointer=saver)
        messages = graph.get_state(config).values["messages"]
    assert [m.content for m in messages] == ["I love kayaking, what should I do on Saturday?", "Try the kayaking tour"]
    assert not Path("/nonexistent").exists()
    other.close()
