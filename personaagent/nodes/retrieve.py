"""retrieve_memory: the user's closest past interactions, their profile and their persona."""

from __future__ import annotations

from langgraph.runtime import Runtime

from ..context import Context
from ..graphs.state import AgentState
from ..ids import validate_user_id
from ..prompts import quote_lines
from ..resources import Resources
from .messages import current_query


def retrieve_memory(state: AgentState, runtime: Runtime[Context], *, resources: Resources) -> dict:
    ctx = Context.of(runtime.context)
    user = validate_user_id(ctx.user_id)
    memory = resources.memory_for(ctx)
    query = current_query(state["messages"])
    as_of = state.get("as_of")
    items = memory.episodes.search(user, query, k=ctx.top_k, before=as_of)
    # The profile summarises all of memory; a run restricted to the past must not see it.
    profile = memory.profiles.latest(user) if as_of is None else None
    if override := state.get("persona_override") or ctx.persona:
        persona, version = override, None
    else:
        stored = memory.current_persona(user)
        persona, version = stored.text, stored.version
    return {
        "retrieved": [item.to_dict() for item in items],
        "profile": quote_lines(profile.text) if profile else "",
        "persona": persona,
        "persona_version": version,
    }
