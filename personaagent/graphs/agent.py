"""The agent graph: START → retrieve_memory → look_up → reason ⇄ tools → update_memory → END.

``builder`` is exported uncompiled; ``graph`` is compiled without checkpointer or store (a
LangGraph server injects its own). Tests and the CLI compile ``build_agent_graph(...)`` with theirs.
"""

from __future__ import annotations

from functools import partial

from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode

from ..context import Context
from ..nodes.look_up import look_up
from ..nodes.reason import reason, route_after_reason
from ..nodes.retrieve import retrieve_memory
from ..nodes.update_memory import update_memory
from ..resources import Resources
from ..tools import make_personal_tools, search_wikipedia
from .state import AgentState, InputState, OutputState


def build_agent_graph(resources: Resources | None = None) -> StateGraph:
    """The agent graph's builder. ``resources`` pins memory/models; unset ones come from Context."""
    resources = resources or Resources()
    tools = [*make_personal_tools(resources), search_wikipedia]
    builder = StateGraph(AgentState, context_schema=Context, input_schema=InputState, output_schema=OutputState)
    builder.add_node("retrieve_memory", partial(retrieve_memory, resources=resources), retry_policy=resources.retry)
    builder.add_node("look_up", partial(look_up, resources=resources), retry_policy=resources.retry)
    builder.add_node("reason", partial(reason, resources=resources, tools=tools), retry_policy=resources.retry)
    builder.add_node("tools", ToolNode(tools))
    builder.add_node("update_memory", partial(update_memory, resources=resources))
    builder.add_edge(START, "retrieve_memory")
    builder.add_edge("retrieve_memory", "look_up")
    builder.add_edge("look_up", "reason")
    builder.add_conditional_edges("reason", route_after_reason, ["tools", "update_memory"])
    builder.add_edge("tools", "reason")
    builder.add_edge("update_memory", END)
    return builder


builder = build_agent_graph()
graph = builder.compile(name="personaagent")
