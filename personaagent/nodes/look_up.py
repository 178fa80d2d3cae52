"""look_up: read the sources the persona's lookup rules ask for on this kind of request (the
profile, the knowledge collection, the web), with no model call. This is how the persona steers
tool use on a model that never calls a tool on its own."""

from __future__ import annotations

from ..context import Context
from ..state import AgentState
from ..persona.sections import available_lookups, lookups_for
from ..resources import Resources
from ..tools import sources
from .messages import current_query, request_spec


def look_up(state: AgentState, ctx: Context, resources: Resources) -> dict:
    spec = request_spec(state)
    query = current_query(state["messages"])
    query = spec.stored_query(query) if spec else query
    memory = resources.memory_for(ctx)
    found: dict[str, str] = {}
    for name in lookups_for(state["persona"], spec.kind if spec else "open", available_lookups()):
        if name == "profile" and state.get("as_of") is None:  # the profile summarises later turns too
            found["profile"] = sources.profile_text(memory, ctx.user_id, None)
        elif name == "knowledge":
            found["knowledge"] = sources.knowledge_text(memory, ctx.user_id, query, ctx.top_k)
        elif name == "web":
            found["web"] = sources.web_text(query)
    # an empty source costs prompt tokens and tells the model nothing
    return {"sources": {k: v for k, v in found.items() if v not in (sources.NO_PROFILE, sources.NO_KNOWLEDGE)}}
