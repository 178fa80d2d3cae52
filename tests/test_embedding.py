"""PersonaAgent inside other apps: as a node of another LangGraph graph, and as a tool of a
LangChain agent. The user always comes from the host app's runtime context."""

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Annotated

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from personaagent import Context, PersonaAgentError, build_agent_graph
from personaagent.services.embed import assistant_tool
from personaagent.memory import Interaction
from personaagent.resources import Resources
from personaagent.testing import ScriptedChatModel, persona_agent_script, tool_call


@pytest.fixture
def seeded(memory):
    memory.episodes.add([
        Interaction(user_id="alice", query="Dinner: sushi or pizza?", ground_truth="sushi", timestamp=100.0),
        Interaction(user_id="bob", query="Dinner: sushi or pizza?", ground_truth="pizza", timestamp=100.0),
    ])
    return memory


def personal_model():
    """Answers with the choice its retrieved history shows, so the answer tells whose memory it read."""
    return ScriptedChatModel(script=persona_agent_script(
        lambda system, messages: "sushi" if 'chose "sushi"' in system else "pizza"))


@dataclass
class AppContext:  # a host app's own context type: only user_id matters to PersonaAgent
    user_id: str
    locale: str = "en"


class Outer(TypedDict, total=False):
    messages: Annotated[list, add_messages]
    answer: str
    routed: bool


def test_agent_graph_as_a_node_of_another_graph(seeded, store_path):
    inner = build_agent_graph(Resources(memory=seeded, agent_model=personal_model())).compile()
    outer = StateGraph(Outer, context_schema=AppContext)
    outer.add_node("route", lambda state: {"routed": True})
    outer.add_node("assistant", inner)
    outer.add_edge(START, "route")
    outer.add_edge("route", "assistant")
    app = outer.compile()
    answers = {user: app.invoke({"messages": [HumanMessage("Tonight: sushi or pizza?")]}, context=AppContext(user))
               for user in ("alice", "bob")}
    assert answers["alice"]["answer"] == "sushi" and answers["bob"]["answer"] == "pizza"
    assert answers["alice"]["routed"] is True
    # the turn was written to the memory of the user in the host's context, and only theirs
    assert [i.query for i in seeded.episodes.list("alice")][-1] == "Tonight: sushi or pizza?"
    assert len(seeded.episodes.list("bob")) == 2


def test_agent_graph_as_a_tool_of_a_langchain_agent(seeded):
    tool = assistant_tool(resources=Resources(memory=seeded, agent_model=personal_model()))
    assert tool.name == "ask_personal_assistant" and set(tool.args) == {"request"}
    host_model = ScriptedChatModel(script=[
        tool_call("ask_personal_assistant", request="Tonight: sushi or pizza?"), "Your assistant says: sushi."])
    agent = create_agent(host_model, [tool], context_schema=AppContext)
    out = agent.invoke({"messages": [HumanMessage("What should I eat tonight?")]}, context=AppContext("alice"))
    result = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert result.content == "sushi"
    assert out["messages"][-1] == AIMessage("Your assistant says: sushi.", id=out["messages"][-1].id)
    assert seeded.episodes.list("alice")[-1].query == "Tonight: sushi or pizza?"


def test_a_host_context_without_a_user_is_refused(seeded):
    inner = build_agent_graph(Resources(memory=seeded, agent_model=personal_model())).compile()
    with pytest.raises(PersonaAgentError, match="has no user_id"):
        inner.invoke({"messages": [HumanMessage("hi")]}, context=SimpleNamespace(locale="en"))


def test_context_of_reads_dicts_and_objects():
    assert Context.of({"user_id": "alice", "top_k": 2}).top_k == 2
    assert Context.of(AppContext("bob")).user_id == "bob"
    assert Context.of(None).user_id == "default"
