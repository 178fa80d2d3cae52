"""The optimizer graph: test-time persona alignment.

    START → load_batch ─(Send, one per sample and persona)→ simulate → compare → select ─→ finish → END
                                                              ↑                     │
                                                              └── rewrite ← critique ┘

``simulate`` is a subgraph holding the whole agent graph (drawn with ``xray``): each sample is
re-answered under a persona with no memory writes and retrieval restricted to memories older than
that sample. The baseline simulates the current persona on the batch and the validation window;
each iteration critiques the batch's misses, rewrites the persona into candidates with several
edit operators and simulates each on the same samples; ``select`` keeps the best by a paired test. The input is
``settings.OptimizerSettings``. ``builder``/``graph`` follow the agent module's convention.
"""

from __future__ import annotations

from typing import Any, Callable

from langgraph.graph import END, START, StateGraph

from ..context import Context
from .binding import bind
from ..nodes import optimizer as nodes
from ..resources import Resources
from .agent import build_agent_graph
from ..persona.settings import OptimizerSettings
from ..state import (
    OptimizerOutput,
    OptimizerState,
    SimulationInput,
    SimulationOutput,
    SimulationState,
)


def build_simulation_graph(resources: Resources) -> StateGraph:
    """The agent graph, plus a step that hands its answer back to the optimizer."""
    builder = StateGraph(SimulationState, context_schema=Context, input_schema=SimulationInput,
                         output_schema=SimulationOutput)
    builder.add_node("agent", build_agent_graph(resources).compile())
    builder.add_node("record_simulation", nodes.record_simulation)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", "record_simulation")
    builder.add_edge("record_simulation", END)
    return builder


def build_optimizer_graph(
    resources: Resources | None = None, simulate: Callable[[dict[str, Any]], dict] | None = None
) -> StateGraph:
    """The optimizer's builder. ``simulate`` replaces the PersonaAgent subgraph with another
    agent's step: it gets one ``Send`` payload (``SimulationInput``) and returns
    ``{"simulations": [...]}`` (see ``personaagent.services.standalone``)."""
    resources = resources or Resources()
    builder = StateGraph(OptimizerState, context_schema=Context, input_schema=OptimizerSettings,
                         output_schema=OptimizerOutput)
    builder.add_node("load_batch", bind(nodes.load_batch, resources))
    builder.add_node("simulate", simulate or build_simulation_graph(resources).compile())
    # model-calling nodes carry no retry policy: each model call retries itself (``resilience``)
    builder.add_node("compare", bind(nodes.compare, resources))
    builder.add_node("select", bind(nodes.select, resources))
    builder.add_node("critique", bind(nodes.critique, resources))
    builder.add_node("rewrite", bind(nodes.rewrite, resources))
    builder.add_node("finish", bind(nodes.finish, resources))
    builder.add_edge(START, "load_batch")
    builder.add_conditional_edges("load_batch", nodes.fan_out, ["simulate"])
    builder.add_edge("simulate", "compare")
    builder.add_edge("compare", "select")
    builder.add_conditional_edges("select", nodes.route_after_select, ["critique", "finish"])
    builder.add_edge("critique", "rewrite")
    builder.add_conditional_edges("rewrite", nodes.route_after_rewrite, ["simulate", "select"])
    builder.add_edge("finish", END)
    return builder


builder = build_optimizer_graph()
graph = builder.compile(name="persona-optimizer")
