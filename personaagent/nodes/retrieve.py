"""retrieve_memory: the user's closest past interactions and the persona this turn runs under (with the
stated preferences that bear on the request, when the user has stated many)."""

from __future__ import annotations

from ..context import Context
from ..state import AgentState
from ..errors import InvalidInput
from ..ids import validate_user_id
from ..persona.stated import narrowed
from ..resources import Resources
from .messages import current_query, request_spec


def retrieve_memory(state: AgentState, ctx: Context, resources: Resources) -> dict:
    user = validate_user_id(ctx.user_id)
    spec = request_spec(state)  # refuses a malformed answer set before anything is read
    if spec and state.get("ground_truth") is not None:
        spec.truth(state["ground_truth"])  # and a label it cannot hold
    forget = state.get("forget_statements")
    if forget is not None and not (isinstance(forget, list) and all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in forget)):
        raise InvalidInput(f"forget_statements takes the numbers of stated preferences (1, 2, …), got {forget!r}")
    memory = resources.memory_for(ctx)
    query = current_query(state["messages"])
    request = spec.stored_query(query) if spec else query  # with its options, if it has any
    items = memory.episodes.search(user, request, k=ctx.top_k,
                                   before=state.get("as_of"), half_life_days=ctx.recency_half_life_days)
    if override := state.get("persona_override") or ctx.persona:
        persona, version = override, None
    else:
        stored = memory.current_persona(user)
        persona, version = stored.text, stored.version
    # many stated preferences: the prompt shows those that bear on this request, options included
    # (an option often names what a preference is about when the question does not)
    persona = narrowed(persona, request, memory.embedder, ctx.statements_shown)
    return {"retrieved": [item.to_dict() for item in items], "persona": persona, "persona_version": version}
