"""Two `langgraph dev` servers on one Postgres database (PERSONAAGENT_MEMORY): the turns sent to
both land in the database, none lost; an optimization run on one server stores a persona that the
other server's next turn answers with. Same scripted model server and tokens as test_server.py."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from personaagent.memory import MemoryStore
from support.processes import Process, free_port
from test_server import DINNERS, ROOT, TOKENS, client_for, start_langgraph

pytestmark = pytest.mark.backends("postgres")


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory, new_database):
    tmp = tmp_path_factory.mktemp("servers")
    logs = tmp / "logs"
    logs.mkdir()
    url, procs = new_database(), []
    try:
        model_port = free_port()
        fake = Process("fake-openai", [sys.executable, str(ROOT / "tests/support/fake_openai.py"), str(model_port)],
                       logs, cwd=ROOT, env={"PYTHONPATH": str(ROOT)})
        procs.append(fake)
        fake.wait_http(f"http://127.0.0.1:{model_port}/v1/models")
        env = {
            "PERSONAAGENT_BASE_URL": f"http://127.0.0.1:{model_port}/v1", "PERSONAAGENT_API_KEY": "test-key",
            "PERSONAAGENT_MODEL": "fake", "PERSONAAGENT_MEMORY": url, "PERSONAAGENT_HOME": str(tmp / "home"),
            "PERSONAAGENT_AUTH_TOKENS": ",".join(f"{t}={u}" for u, t in TOKENS.items()),
            "PERSONAAGENT_WEB_SEARCH": "0", "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "true",
            "LANGSMITH_TRACING": "false",
        }
        with ThreadPoolExecutor(2) as pool:  # both start at once: both open (and one creates) the schema
            started = list(pool.map(lambda name: start_langgraph(name, tmp, env, logs), ["langgraph-a", "langgraph-b"]))
        procs += [proc for proc, _ in started]
        yield {"urls": [u for _, u in started], "memory_url": url}
    finally:
        for proc in reversed(procs):
            proc.stop()


def turn(server_url: str, question: str, truth: str | None = None) -> dict:
    alice = client_for(server_url, "alice")
    thread = alice.threads.create()
    payload = {"messages": [{"role": "user", "content": question}], **({"ground_truth": truth} if truth else {})}
    return alice.runs.wait(thread["thread_id"], "agent", input=payload, context={"user_id": "alice"})


def test_turns_on_two_servers_land_in_one_database_and_the_persona_travels(two_servers):
    a, b = two_servers["urls"]
    with ThreadPoolExecutor(4) as pool:  # both servers write alice's memory at the same time
        list(pool.map(lambda n: turn((a, b)[n % 2], DINNERS[n], "sushi"), range(len(DINNERS))))
    memory = MemoryStore.open(url=two_servers["memory_url"])
    assert sorted(e.query for e in memory.episodes.list("alice")) == sorted(DINNERS)

    alice = client_for(a, "alice")
    thread = alice.threads.create()
    run = alice.runs.create(thread["thread_id"], "optimizer", input={"batch_size": 3, "validation_size": 1, "max_iters": 2},
                            context={"user_id": "alice"})
    summary = alice.runs.join(thread["thread_id"], run["run_id"])
    assert summary["final_version"] == 2
    assert (memory.personas.latest("alice").version, memory.runs.history("alice")[-1]["status"]) == (2, "finished")

    out = turn(b, "Lunch: pizza or sushi?")
    assert (out["persona_version"], out["answer"]) == (2, "sushi")
    memory.close()
