"""The graphs under real servers: `langgraph dev` processes over one `chroma run` server, driven
through langgraph-sdk and RemoteGraph, with token auth. Models: a scripted OpenAI-compatible
server (tests/support/fake_openai.py) so the runs are fast and deterministic; the embedder is the
embedded MiniLM, as in production."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest
from langgraph.pregel.remote import RemoteGraph
from langgraph_sdk import get_sync_client

from personaagent.memory import MemoryStore

from support.processes import Process, free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TOKENS = {"alice": "tok-alice-0123456789", "bob": "tok-bob-9876543210", "carol": "tok-carol-5555555555"}
DINNERS = [f"Dinner {n}: pizza or sushi?" for n in range(4)]


def status_of(exc: Exception) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(exc, "status_code", None) or (response.status_code if response is not None else None)


def detail_of(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return response.text if response is not None else str(exc)


def start_langgraph(name: str, tmp: Path, env: dict, logs: Path) -> tuple[Process, str]:
    """`langgraph dev` on the repository's langgraph.json, in a directory of its own (its
    in-memory runtime persists under the working directory)."""
    workdir = tmp / name
    workdir.mkdir()
    config = json.loads((ROOT / "langgraph.json").read_text())
    config["dependencies"] = [str(ROOT)]
    (workdir / "langgraph.json").write_text(json.dumps(config))
    port = free_port()
    proc = Process(name, [str(BIN / "langgraph"), "dev", "--no-browser", "--no-reload", "--port", str(port),
                          "--config", str(workdir / "langgraph.json")], logs, cwd=workdir, env=env)
    url = f"http://127.0.0.1:{port}"
    proc.wait_http(f"{url}/ok", timeout=180)
    return proc, url


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("server")
    logs = tmp / "logs"
    logs.mkdir()
    procs = []
    try:
        model_port, chroma_port = free_port(), free_port()
        fake = Process("fake-openai", [sys.executable, str(ROOT / "tests/support/fake_openai.py"), str(model_port)],
                       logs, cwd=ROOT, env={"PYTHONPATH": str(ROOT)})
        procs.append(fake)
        chroma = Process("chroma", [str(BIN / "chroma"), "run", "--path", str(tmp / "chroma"), "--host", "127.0.0.1",
                                    "--port", str(chroma_port)], logs)
        procs.append(chroma)
        fake.wait_http(f"http://127.0.0.1:{model_port}/v1/models")
        chroma.wait_http(f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat")
        env = {
            "PERSONAAGENT_BASE_URL": f"http://127.0.0.1:{model_port}/v1", "PERSONAAGENT_API_KEY": "test-key",
            "PERSONAAGENT_MODEL": "fake", "PERSONAAGENT_CHROMA_HOST": "127.0.0.1",
            "PERSONAAGENT_CHROMA_PORT": str(chroma_port), "PERSONAAGENT_HOME": str(tmp / "home"),
            "PERSONAAGENT_AUTH_TOKENS": ",".join(f"{t}={u}" for u, t in TOKENS.items()),
            "PERSONAAGENT_WEB_SEARCH": "0", "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "true",
            "LANGSMITH_TRACING": "false",
        }
        server, url = start_langgraph("langgraph-1", tmp, env, logs)
        procs.append(server)
        yield {"url": url, "env": env, "tmp": tmp, "logs": logs, "chroma_port": chroma_port, "procs": procs}
    finally:
        for proc in reversed(procs):
            proc.stop()


def client_for(url: str, user: str | None):
    headers = {"Authorization": f"Bearer {TOKENS[user]}"} if user else {}
    return get_sync_client(url=url, headers=headers)


@pytest.fixture(scope="module")
def optimized(cluster):
    """alice talks to the agent (labelled turns), then optimizes in a background run."""
    alice = client_for(cluster["url"], "alice")
    thread = alice.threads.create()
    answers = [
        alice.runs.wait(thread["thread_id"], "agent", input={"messages": [{"role": "user", "content": q}],
                                                              "ground_truth": "sushi"},
                        context={"user_id": "alice"})["answer"]
        for q in DINNERS
    ]
    opt_thread = alice.threads.create()
    run = alice.runs.create(opt_thread["thread_id"], "optimizer",
                            input={"batch_size": 3, "validation_size": 1, "max_iters": 2}, context={"user_id": "alice"})
    summary = alice.runs.join(opt_thread["thread_id"], run["run_id"])
    return {"answers": answers, "summary": summary, "thread": thread, "opt_thread": opt_thread, "run": run}


def test_agent_memory_lands_in_the_chroma_server_and_the_optimizer_stores_a_new_persona(cluster, optimized):
    assert optimized["answers"] == ["pizza"] * 4  # the initial persona knows nothing yet
    memory = MemoryStore.open(host="127.0.0.1", port=cluster["chroma_port"])
    episodes = memory.episodes.list("alice")
    assert [e.query for e in episodes] == DINNERS and {e.ground_truth for e in episodes} == {"sushi"}
    summary = optimized["summary"]
    assert [p["outcome"] for p in summary["loss_curve"]] == ["baseline", "accepted"]
    assert (summary["initial_loss"], summary["best_loss"], summary["final_version"]) == (1.0, 0.0, 2)
    persona = memory.personas.latest("alice")
    assert persona.version == 2 and persona.source == "optimizer" and "This user likes sushi." in persona.text
    run = client_for(cluster["url"], "alice").runs.get(optimized["opt_thread"]["thread_id"], optimized["run"]["run_id"])
    assert run["status"] == "success"


def test_a_second_server_on_the_same_chroma_sees_the_persona(cluster, optimized):
    server, url = start_langgraph("langgraph-2", cluster["tmp"], cluster["env"], cluster["logs"])
    cluster["procs"].append(server)
    alice = client_for(url, "alice")
    thread = alice.threads.create()
    out = alice.runs.wait(thread["thread_id"], "agent", input={"messages": [{"role": "user", "content": "Lunch: pizza or sushi?"}]},
                          context={"user_id": "alice"})
    assert (out["persona_version"], out["answer"]) == (2, "sushi")


def test_remote_graph_runs_the_served_agent(cluster, optimized):
    remote = RemoteGraph("agent", url=cluster["url"], headers={"Authorization": f"Bearer {TOKENS['alice']}"})
    thread = client_for(cluster["url"], "alice").threads.create()
    out = remote.invoke({"messages": [{"role": "user", "content": "Supper: pizza or sushi?"}]},
                        {"configurable": {"thread_id": thread["thread_id"]}}, context={"user_id": "alice"})
    assert out["answer"] == "sushi" and out["persona_version"] == 2
    assert "retrieve_memory" in {n["id"] for n in remote.get_graph().to_json()["nodes"]}


def test_a_user_cannot_act_as_another_or_read_their_threads(cluster, optimized):
    bob = client_for(cluster["url"], "bob")
    thread = bob.threads.create()
    message = {"messages": [{"role": "user", "content": "Dinner: pizza or sushi?"}]}
    with pytest.raises(httpx.HTTPStatusError) as as_alice:
        bob.runs.wait(thread["thread_id"], "agent", input=message, context={"user_id": "alice"})
    assert status_of(as_alice.value) == 403 and "acts for user 'bob'" in detail_of(as_alice.value)
    with pytest.raises(httpx.HTTPStatusError) as no_user:
        bob.runs.wait(thread["thread_id"], "agent", input=message)
    assert status_of(no_user.value) == 403
    with pytest.raises(httpx.HTTPStatusError) as redirect:
        bob.runs.wait(thread["thread_id"], "agent", input=message, context={"user_id": "bob", "chroma_host": "evil"})
    assert status_of(redirect.value) == 403 and "chroma_host" in detail_of(redirect.value)
    alice_thread = optimized["thread"]["thread_id"]
    # another user's thread is not found, as if it did not exist: reading it, listing its runs, running in it
    for read in (bob.threads.get, bob.threads.get_state, bob.runs.list):
        with pytest.raises(httpx.HTTPStatusError) as denied:
            read(alice_thread)
        assert status_of(denied.value) == 404 and "not found" in detail_of(denied.value), read
    with pytest.raises(httpx.HTTPStatusError) as run_in_theirs:
        bob.runs.wait(alice_thread, "agent", input=message, context={"user_id": "bob"})
    assert status_of(run_in_theirs.value) == 404
    assert alice_thread not in {t["thread_id"] for t in bob.threads.search()}
    assert alice_thread in {t["thread_id"] for t in client_for(cluster["url"], "alice").threads.search()}
    # bob's own run works, and reads only bob's (empty) memory
    out = bob.runs.wait(thread["thread_id"], "agent", input=message, context={"user_id": "bob"})
    assert out["answer"] == "pizza" and out["persona_version"] == 1 and out["retrieved"] == []


def test_requests_without_a_valid_token_are_refused(cluster):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic tok-alice-0123456789"}):
        response = httpx.post(f"{cluster['url']}/threads/search", json={}, headers=headers)
        assert response.status_code == 401, (headers, response.text)


def test_a_users_assistant_can_neither_show_nor_steer_another_user(cluster, optimized):
    bob, alice = client_for(cluster["url"], "bob"), client_for(cluster["url"], "alice")
    for context in ({"persona": "You are bob's pirate assistant."}, {"user_id": "bob"}, {"model_name": "gpt-4o"}):
        with pytest.raises(httpx.HTTPStatusError) as refused:
            bob.assistants.create("agent", context=context, name="bob's")
        assert status_of(refused.value) == 403, context
    shared = bob.assistants.create("agent", context={"top_k": 2}, name="bob's short memory")
    with pytest.raises(httpx.HTTPStatusError) as refused:
        bob.assistants.update(shared["assistant_id"], context={"persona": "You are a pirate."})
    assert status_of(refused.value) == 403 and "belong to one user" in detail_of(refused.value)
    # alice finds the assistant, with nothing of bob's in it, and runs it as herself: her persona steers
    found = {a["assistant_id"]: a for a in alice.assistants.search(graph_id="agent")}
    assert found[shared["assistant_id"]]["context"] == {"top_k": 2}
    thread = alice.threads.create()
    out = alice.runs.wait(thread["thread_id"], shared["assistant_id"],
                          input={"messages": [{"role": "user", "content": "Brunch: pizza or sushi?"}]},
                          context={"user_id": "alice"})
    assert (out["answer"], out["persona_version"], len(out["retrieved"])) == ("sushi", 2, 2)


def test_the_server_schedules_an_optimization_through_its_own_runs_api(cluster):
    from personaagent.nodes.request_optimization import optimizer_thread

    carol = client_for(cluster["url"], "carol")
    thread = carol.threads.create()
    context = {"user_id": "carol", "optimize_every": 2}
    for n in range(3):  # 2 labelled turns make one due; the 3rd asks again while it is pending
        carol.runs.wait(thread["thread_id"], "agent", context=context,
                        input={"messages": [{"role": "user", "content": f"Tea {n}: green or black?"}], "ground_truth": "black"})
    scheduled = optimizer_thread("carol")
    runs = carol.runs.list(scheduled)
    assert len(runs) == 1 and runs[0]["metadata"]["trigger"] == "scheduled"  # the second request was rejected
    summary = carol.runs.join(scheduled, runs[0]["run_id"])
    assert summary["accepted"] == 1 and carol.runs.get(scheduled, runs[0]["run_id"])["status"] == "success"
    memory = MemoryStore.open(host="127.0.0.1", port=cluster["chroma_port"])
    assert memory.personas.latest("carol").source == "optimizer"
    assert [r["trigger"] for r in memory.runs.history("carol")] == ["scheduled"]
    assert scheduled in {t["thread_id"] for t in carol.threads.search()}  # visible to carol, as her thread
    assert scheduled not in {t["thread_id"] for t in client_for(cluster["url"], "bob").threads.search()}
