"""Graph-level tests of the agent on a scripted chat model and the hashing embedding."""

from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from personaagent.errors import InvalidUserId, PersonaAgentError
from personaagent.graphs.agent import build_agent_graph
from personaagent.memory import Interaction
from personaagent.resources import Resources
from personaagent.testing import ScriptedChatModel, answering_calls, persona_agent_script, tool_call

SNAPSHOT = Path(__file__).parent / "snapshots" / "agent_graph.mmd"


def answering(answer):
    """A model that answers every request with ``answer`` (and plays the profile summariser)."""
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


def test_a_plain_turn_is_one_model_call_with_the_retrieved_history_in_its_prompt(seeded, context_for):
    model = ScriptedChatModel(script=answering("hiking in the Dolomites"))
    out = ask(compile_graph(seeded, model), context_for("alice", max_tool_rounds=0),
              "Weekend plan: hiking in the Dolomites or a city break?")
    assert len(model.calls) == 1 and out["model_calls"] == 1
    assert "tool_names" not in model.calls[0]  # nothing bound: the search was made by retrieve_memory
    system = model.calls[0]["messages"][0].content
    history = system.split("<history>")[1].split("</history>")[0]
    assert "hiking in the Alps" in history and "museum" not in history  # alice's memory, not bob's
    assert not any(isinstance(m, ToolMessage) for m in out["messages"])
    assert out["answer"] == "hiking in the Dolomites" and out["answer_path"] == "generated"


def test_a_model_that_calls_tools_gets_them_bound_and_still_answers_in_one_call_when_it_needs_none(seeded, context_for):
    model = ScriptedChatModel(script=answering("sushi"))
    out = ask(compile_graph(seeded, model), context_for("alice"), "Dinner: sushi or pizza?")
    assert len(model.calls) == 1 and model.calls[0]["tool_choice"] is None  # tool_choice="auto"
    assert {"search_history", "read_profile", "search_knowledge"} <= set(model.calls[0]["tool_names"])
    assert out["answer"] == "sushi"


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


def test_tool_results_reach_the_model_inside_the_system_prompt(seeded, context_for):
    model = ScriptedChatModel(script=[tool_call("search_knowledge", query="mountains"), "the Alps again"])
    out = ask(compile_graph(seeded, model), context_for("alice"), "Any hiking ideas for the weekend?")
    final = model.calls[1]["messages"]
    assert "[search_knowledge]" in final[0].content
    assert not any(isinstance(m, ToolMessage) for m in final)
    assert out["answer"] == "the Alps again" and out["model_calls"] == 2


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
    second_system = answering_calls(model)[1]["messages"][0].content
    assert "I love kayaking" in second_system
    # the thread's earlier turn is in the dialogue
    dialogue = answering_calls(model)[1]["messages"][1:]
    assert [type(m) for m in dialogue] == [HumanMessage, AIMessage, HumanMessage]
    ask(graph, context_for("bob"), "Saturday: kayaking or cinema?", thread="b")
    bob_call = answering_calls(model)[2]
    assert "kayaking" not in bob_call["messages"][0].content.split("<history>")[1].split("</history>")[0]
    assert "(no earlier interactions found)" in bob_call["messages"][0].content
    assert memory.episodes.count("bob") == 1 and memory.episodes.count("alice") == 2


def test_as_of_restricts_retrieval_and_record_false_writes_nothing(seeded, context_for):
    model = ScriptedChatModel(script=answering("sushi"))
    out = ask(compile_graph(seeded, model), context_for("alice"), "Dinner: sushi or pizza?", as_of=200.0, record=False,
              persona_override="CANDIDATE PERSONA")
    assert [r["timestamp"] for r in out["retrieved"]] == [100.0]
    system = model.calls[0]["messages"][0].content
    assert 'chose "sushi"' not in system  # the interaction at t=200 is not older than as_of
    assert system.startswith("CANDIDATE PERSONA")
    assert out["interaction_id"] is None and out["persona_version"] is None
    assert seeded.episodes.count("alice") == 2
    assert seeded.personas.history("alice") == []  # a persona override creates no stored persona


def test_more_tool_rounds_when_allowed_then_answer(seeded, context_for):
    script = [tool_call("search_history", query="x"), tool_call("read_profile"), "final"]
    model = ScriptedChatModel(script=script)
    out = ask(compile_graph(seeded, model), context_for("alice", max_tool_rounds=2), "What now?")
    assert "tool_names" in model.calls[0] and "tool_names" in model.calls[1] and "tool_names" not in model.calls[2]
    assert all(c.get("tool_choice") is None for c in model.calls)
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
    assert SNAPSHOT.exists(), f"no snapshot: review this drawing and commit it as {SNAPSHOT}:\n{mermaid}"
    assert mermaid == SNAPSHOT.read_text()


def test_a_persona_tried_from_the_context_steers_the_turn_without_being_stored(seeded, context_for):
    model = ScriptedChatModel(script=answering("ok"))
    stored = seeded.current_persona("alice")
    out = ask(compile_graph(seeded, model), context_for("alice", persona="You are a terse pirate."), "Dinner: sushi or pizza?")
    assert out["persona_version"] is None
    assert all(str(c["messages"][0].content).startswith("You are a terse pirate.") for c in model.calls)
    assert [v.text for v in seeded.personas.history("alice")] == [stored.text]


def test_an_answer_cut_off_by_the_token_limit_is_kept_and_flagged(memory, context_for):
    cut = AIMessage("The best plan for your Sunday starts with a long walk by the", response_metadata={"finish_reason": "length"})
    model = ScriptedChatModel(script=[cut])
    out = ask(compile_graph(memory, model), context_for("alice", max_tool_rounds=0), "Plan my Sunday.")
    assert out["answer_truncated"] is True and out["answer"].endswith("by the") and len(model.calls) == 1
    assert memory.episodes.get("alice", out["interaction_id"]).metadata == {"truncated": True}
    whole = ask(compile_graph(memory, ScriptedChatModel(script=["A walk."])), context_for("alice"), "And Monday?")
    assert whole["answer_truncated"] is False
