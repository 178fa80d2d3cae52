"""Graph-level tests of the agent on a scripted chat model and the hashing embedding."""

from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from personaagent.errors import InvalidUserId, PersonaAgentError
from personaagent.graphs.agent import build_agent_graph
from personaagent.memory import Interaction
from personaagent.resources import Resources
from personaagent.testing import ScriptedChatModel, persona_agent_script, tool_call

SNAPSHOT = Path(__file__).parent / "snapshots" / "agent_graph.mmd"


def answering(answer: str):
    """A model that calls search_history with the request when forced to, then answers."""
    return persona_agent_script(answer)


def compile_graph(memory, model):
    return build_agent_graph(Resources(memory=memory, agent_model=model)).compile(checkpointer=InMemorySaver())


def ask(graph, context, text, thread="t1", **inputs):
    return graph.invoke(
        {"messages": [HumanMessage(text)], **inputs}, {"configurable": {"thread_id": thread}}, context=context
    )


@pytest.fixture
def seeded(memory):
    memory.episodes.add([
        Interaction(user_id="alice", query="Weekend plan: hiking in the Alps or a spa day?", ground_truth="hiking in the Alps", timestamp=100.0),
        Interaction(user_id="alice", query="Dinner: sushi or pizza?", ground_truth="sushi", timestamp=200.0),
        Interaction(user_id="bob", query="Weekend plan: hiking trip or museum?", ground_truth="museum", timestamp=150.0),
    ])
    return memory


def test_first_step_forces_history_tool_and_tool_gets_user_from_context(seeded, context_for):
    model = ScriptedChatModel(script=answering("hiking in the Dolomites"))
    out = ask(compile_graph(seeded, model), context_for("alice"), "Weekend plan: hiking in the Dolomites or a city break?")
    assert model.calls[0]["tool_choice"] == "search_history"
    assert "search_history" in model.calls[0]["tool_names"]
    tool_results = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert len(tool_results) == 1 and tool_results[0].name == "search_history"
    # The tool searched alice's history (the user id came from the runtime context, not the model).
    assert "hiking in the Alps" in tool_results[0].content
    assert "museum" not in tool_results[0].content
    assert out["answer"] == "hiking in the Dolomites"


def test_model_cannot_pass_a_user_id_to_tools(seeded, context_for):
    sneaky = ScriptedChatModel(script=[tool_call("search_history", query="weekend", user_id="bob"), "done"])
    out = ask(compile_graph(seeded, sneaky), context_for("alice"), "weekend?")
    result = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert "museum" not in result.content and "hiking in the Alps" in result.content


def test_retrieved_context_and_persona_reach_the_system_prompt(seeded, context_for):
    seeded.personas.save("alice", "PERSONA-MARKER: alice loves mountains.", source="manual")
    model = ScriptedChatModel(script=answering("ok"))
    out = ask(compile_graph(seeded, model), context_for("alice", top_k=1), "Any hiking ideas for the weekend?")
    system = model.calls[0]["messages"][0]
    assert isinstance(system, SystemMessage)
    assert system.content.startswith("PERSONA-MARKER: alice loves mountains.")
    assert 'chose "hiking in the Alps"' in system.content
    assert "sushi" not in system.content  # top_k=1
    assert out["persona_version"] == 1 and len(out["retrieved"]) == 1
    # After the tool ran, its result is given to the model inside the system prompt.
    final_system = model.calls[1]["messages"][0].content
    assert "[search_history]" in final_system and "tool_names" not in model.calls[1]
    assert not any(isinstance(m, ToolMessage) for m in model.calls[1]["messages"])


def test_interaction_is_stored_with_ground_truth_and_turn_fields_reset(memory, context_for):
    graph = compile_graph(memory, ScriptedChatModel(script=answering("Alien")))
    out = ask(graph, context_for("alice"), "Film: Alien or Notting Hill?", ground_truth="Alien", feedback="spot on")
    stored = memory.episodes.get("alice", out["interaction_id"])
    assert (stored.query, stored.answer, stored.ground_truth, stored.feedback) == (
        "Film: Alien or Notting Hill?", "Alien", "Alien", "spot on")
    second = ask(graph, context_for("alice"), "Book: Dune or Emma?")
    assert memory.episodes.get("alice", second["interaction_id"]).ground_truth is None
    state = graph.get_state({"configurable": {"thread_id": "t1"}}).values
    assert state.get("ground_truth") is None and state.get("feedback") is None


def test_second_turn_sees_the_first_and_other_users_see_nothing(memory, context_for):
    model = ScriptedChatModel(script=answering("Try the kayaking tour"))
    graph = compile_graph(memory, model)
    ask(graph, context_for("alice"), "I love kayaking, what should I do on Saturday?", thread="a")
    ask(graph, context_for("alice"), "Saturday again: kayaking or cinema?", thread="a")
    second_system = model.calls[2]["messages"][0].content
    assert "I love kayaking" in second_system
    # the thread's earlier turn is in the dialogue, without its tool messages
    dialogue = model.calls[2]["messages"][1:]
    assert [type(m) for m in dialogue] == [HumanMessage, AIMessage, HumanMessage]
    ask(graph, context_for("bob"), "Saturday: kayaking or cinema?", thread="b")
    bob_call = model.calls[4]
    assert "kayaking" not in bob_call["messages"][0].content.split("<history>")[1].split("</history>")[0]
    assert "(no earlier interactions found)" in bob_call["messages"][0].content
    assert memory.episodes.count("bob") == 1 and memory.episodes.count("alice") == 2


def test_as_of_restricts_retrieval_and_record_false_writes_nothing(seeded, context_for):
    model = ScriptedChatModel(script=answering("sushi"))
    out = ask(compile_graph(seeded, model), context_for("alice"), "Dinner: sushi or pizza?", as_of=200.0, record=False,
              persona_override="CANDIDATE PERSONA")
    assert [r["timestamp"] for r in out["retrieved"]] == [100.0]
    tool_result = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert "sushi" not in tool_result.content  # the interaction at t=200 is not older than as_of
    assert model.calls[0]["messages"][0].content.startswith("CANDIDATE PERSONA")
    assert out["interaction_id"] is None and out["persona_version"] is None
    assert seeded.episodes.count("alice") == 2
    assert seeded.personas.history("alice") == []  # a persona override creates no stored persona


def test_more_tool_rounds_when_allowed_then_answer(seeded, context_for):
    script = [tool_call("search_history", query="x"), tool_call("read_profile"), "final"]
    model = ScriptedChatModel(script=script)
    out = ask(compile_graph(seeded, model), context_for("alice", max_tool_rounds=2), "What now?")
    assert [c.get("tool_choice") for c in model.calls] == ["search_history", None, None]
    assert "tool_names" in model.calls[1] and "tool_names" not in model.calls[2]
    assert out["answer"] == "final"


def test_profile_refreshes_every_k_interactions(memory, context_for):
    graph = compile_graph(memory, ScriptedChatModel(script=persona_agent_script("answer", profile="likes quick answers")))
    for n in range(3):
        ask(graph, context_for("alice", profile_every=2), f"question {n}")
    profiles = memory.profiles.history("alice")
    assert [p.extra["interactions"] for p in profiles] == [2]
    assert "likes quick answers" in memory.current_persona("alice").text


def test_bad_input_is_refused_with_a_clear_error(memory, context_for):
    graph = compile_graph(memory, ScriptedChatModel(script=answering("x")))
    with pytest.raises(InvalidUserId):
        ask(graph, context_for("../etc"), "hello")
    with pytest.raises(PersonaAgentError, match="user message is empty"):
        ask(graph, context_for("alice"), "   ")
    with pytest.raises(PersonaAgentError, match="limit is 8000"):
        ask(graph, context_for("alice"), "x" * 8001)
    assert memory.client.get_collection("episodes").count() == 0


def test_topology_snapshot():
    mermaid = build_agent_graph().compile().get_graph(xray=True).draw_mermaid()
    if not SNAPSHOT.exists():  # first run writes it; review and commit the file
        SNAPSHOT.write_text(mermaid)
    assert mermaid == SNAPSHOT.read_text()


def test_a_persona_tried_from_the_context_steers_the_turn_without_being_stored(seeded, context_for):
    model = ScriptedChatModel(script=answering("ok"))
    stored = seeded.current_persona("alice")
    out = ask(compile_graph(seeded, model), context_for("alice", persona="You are a terse pirate."), "Dinner: sushi or pizza?")
    assert out["persona_version"] is None
    assert all(str(c["messages"][0].content).startswith("You are a terse pirate.") for c in model.calls)
    assert [v.text for v in seeded.personas.history("alice")] == [stored.text]
