"""The embedded model for real: it starts, answers through the graph with a real tool call, stops."""

import pytest
from langchain_core.messages import HumanMessage, ToolMessage

from personaagent.answers.closed_form import option_orders
from personaagent.models import local as local_model
from personaagent.context import Context
from personaagent.services.demo import demo_file
from personaagent.graphs.agent import build_agent_graph
from personaagent.memory import MemoryStore, read_history
from personaagent.resources import Resources

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server():
    pytest.importorskip("llama_cpp", reason="needs the [local] extra: pip install 'personaagent[local]'")
    srv = local_model.ensure_local_server()
    yield srv
    local_model.stop_local_server()
    assert not srv.running


def test_embedded_model_answers_a_sample_user_through_the_graph(server, tmp_path):
    memory = MemoryStore.open(tmp_path / "chroma")
    memory.episodes.add(read_history("maya", demo_file("maya.jsonl")))
    graph = build_agent_graph(Resources(memory=memory)).compile()
    context = Context(user_id="maya", profile_every=1000)
    options = ["The Holiday", "Les Miserables", "Blade Runner 2049"]
    out = graph.invoke({"messages": [HumanMessage("Which film tonight?")], "answer_options": options,
                        "record": False}, context=context)
    # one model call per order read (two of the three by default), the answer from the token distributions
    assert out["model_calls"] == 2 and len(out["answer_orders"]) == 2 and out["answer_path"] == "logprobs"
    assert set(out["answer_distribution"]) == set(options) and out["answer"] in options
    assert sum(out["answer_distribution"].values()) == pytest.approx(1.0, abs=1e-3)
    assert max(out["answer_distribution"], key=out["answer_distribution"].get) == out["answer"]
    assert len(out["retrieved"]) == 4  # maya's history reached the prompt
    rating = graph.invoke({"messages": [HumanMessage('How would I rate the movie "Arrival"?')],
                           "rating_scale": {"low": 0.5, "high": 5, "step": 0.5}, "record": False}, context=context)
    assert rating["answer_path"] == "logprobs" and set(rating["answer_distribution"]) == {"1", "2", "3", "4", "5"}
    assert 1 <= rating["rating"]["median"] <= 5 and rating["answer"] == f"{rating['rating']['median']:g}"
    free = graph.invoke({"messages": [HumanMessage("Suggest one film for tonight, in one sentence.")],
                         "record": False}, context=context)
    assert free["model_calls"] == 1 and free["answer_path"] == "generated"
    assert not any(isinstance(m, ToolMessage) for m in free["messages"])
    print(f"\nembedded model: {out['answer']!r} {out['answer_distribution']}; rating {rating['rating']}; "
          f"free text {free['answer']!r}")


def test_server_process_is_reused_within_the_process(server):
    assert local_model.ensure_local_server() is server and server.running


def test_server_stops_when_the_process_that_started_it_exits():
    pytest.importorskip("llama_cpp", reason="needs the [local] extra")
    import os
    import subprocess
    import sys
    import time

    script = "from personaagent.models.local import ensure_local_server as e; print(e(lambda m: None).process.pid)"
    pid = int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    pytest.fail(f"llama.cpp server {pid} still running after its parent exited")


def test_one_optimizer_iteration_on_the_embedded_model(server, tmp_path):
    from langgraph.checkpoint.memory import InMemorySaver

    from personaagent.graphs.optimizer import build_optimizer_graph
    from personaagent.persona.sections import LOOKUPS, section

    memory = MemoryStore.open(tmp_path / "chroma")
    memory.episodes.add(read_history("maya", demo_file("maya.jsonl")))
    before = memory.current_persona("maya")
    graph = build_optimizer_graph(Resources(memory=memory)).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "it"}}
    summary = graph.invoke({"max_iters": 1, "batch_size": 2, "validation_size": 2, "candidates": 2,
                            "operators": ["evidence", "edit"]}, config, context=Context(user_id="maya"))
    sims = graph.get_state(config).values["simulations"]
    print(f"\nembedded optimizer: {[p['outcome'] for p in summary['loss_curve']]}, loss {summary['initial_loss']:.3f} -> "
          f"{summary['best_loss']:.3f}, pool {[(c['operator'], round(c['improvement'], 3)) for c in summary['pool']]}, "
          f"{summary['model_calls']} model calls, stop: {summary['stop_reason']}")
    # every simulation answered from the letter distributions, one call per order of its options read
    # (the default two, or both of two options); the loss is continuous
    orders = Context(user_id="maya").option_orders
    assert summary["metric"] == "closed" and all(
        s["path"] == "logprobs" and s["calls"] == len(option_orders(s["options"], orders)) for s in sims)
    assert 0 < summary["initial_loss"] < 1
    # the evidence operator always has maya's older choices to write; each candidate was judged on 4 samples
    operators = [c["operator"] for c in summary["pool"]]
    assert operators[0] == "evidence" and all(c["wins"] + c["losses"] + c["ties"] == 4 for c in summary["pool"])
    latest = memory.personas.latest("maya")
    if summary["accepted"]:
        assert latest.source == "optimizer" and latest.loss < summary["initial_loss"] and latest.parent == before.version
        assert section(latest.text, LOOKUPS) == section(before.text, LOOKUPS)
    else:
        assert latest.version == before.version and summary["best_loss"] == summary["initial_loss"]


def test_the_embedded_model_keeps_a_stated_preference_and_not_a_request(server, tmp_path):
    from personaagent.persona import stated

    memory = MemoryStore.open(tmp_path / "chroma")
    graph = build_agent_graph(Resources(memory=memory)).compile()
    context = Context(user_id="nina", profile_every=1000)
    said = graph.invoke({"messages": [HumanMessage("I am allergic to peanuts, so I avoid anything with nuts.")]},
                        context=context)
    asked = graph.invoke({"messages": [HumanMessage("Could you recommend a good laptop for me?")]}, context=context)
    print(f"\nembedded detector kept: {said['stated']!r}, then {asked['stated']!r}")
    assert said["stated"] and not asked["stated"]
    assert "peanuts" in stated.statements(memory.personas.latest("nina").text)[0].text
