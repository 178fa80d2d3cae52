"""The agent graph: START → retrieve_memory → look_up → check_stated → reason ⇄ tools → update_memory → END.

``builder`` is exported uncompiled; ``graph`` is compiled without checkpointer or store (a
LangGraph server injects its own) and is the served variant, which ends with
``request_optimization``. Tests and the CLI compile ``build_agent_graph(...)`` with theirs.
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode

from ..context import Context
from .binding import bind
from ..nodes.check_stated import check_stated
from ..nodes.look_up import look_up
from ..nodes.reason import reason, route_after_reason
from ..nodes.request_optimization import request_optimization
from ..nodes.retrieve import retrieve_memory
from ..nodes.update_memory import update_memory
from ..resources import Resources
from ..tools import make_personal_tools, search_wikipedia
from ..state import AgentState, InputState, OutputState


def build_agent_graph(resources: Resources | None = None, *, served: bool = False) -> StateGraph:
    """The agent graph's builder. ``resources`` pins memory/models; unset ones come from Context.
    ``served``: the graph a LangGraph server runs, which ends by asking that server for a
    background optimization when one is due (``nodes.request_optimization``)."""
    resources = resources or Resources()
    tools = [*make_personal_tools(resources), search_wikipedia]
    builder = StateGraph(AgentState, context_schema=Context, input_schema=InputState, output_schema=OutputState)
    builder.add_node("retrieve_memory", bind(retrieve_memory, resources), retry_policy=resources.retry)
    builder.add_node("look_up", bind(look_up, resources), retry_policy=resources.retry)
    builder.add_node("check_stated", bind(check_stated, resources))  # its model calls retry themselves
    builder.add_node("reason", bind(reason, resources, tools=tools))  # its model call retries itself
    builder.add_node("tools", ToolNode(tools))
    builder.add_node("update_memory", bind(update_memory, resources))
    builder.add_edge(START, "retrieve_memory")
    builder.add_edge("retrieve_memory", "look_up")
    builder.add_edge("look_up", "check_stated")
    builder.add_edge("check_stated", "reason")
    builder.add_conditional_edges("reason", route_after_reason, ["tools", "update_memory"])
    builder.add_edge("tools", "reason")
    if served:
        builder.add_node("request_optimization", bind(request_optimization, resources))
        builder.add_edge("update_memory", "request_optimization")
        builder.add_edge("request_optimization", END)
    else:
        builder.add_edge("update_memory", END)
    return builder


builder = build_agent_graph(served=True)
graph = builder.compile(name="personaagent")
