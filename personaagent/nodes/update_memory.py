"""update_memory: write the interaction (with its ground truth or feedback, when given) to
episodic memory; keep in the persona what the turn states as a lasting preference of the user
(``persona.stated``: a new persona version); forget the stated preferences the turn asks to
forget; refresh the semantic profile every ``profile_every`` interactions (while cold start is on
and the user is still new, every ``neighbours.COLD_REFRESH_EVERY``, so a newcomer who only chats
gets the borrowed section after a few turns, not only once no longer new). It only records:
optimizations are started by callers (``scheduling``) or, when served, by the server."""

from __future__ import annotations

import logging
import time

from ..context import Context
from ..state import AgentState
from ..memory import neighbours
from ..memory.episodic import Interaction
from ..persona.stated import stated_in
from ..models.resilience import TRANSIENT
from ..resources import Resources
from .messages import current_query, last_answer, request_spec

log = logging.getLogger(__name__)

# Per-turn inputs, cleared so they do not carry over to the next turn of a thread.
TURN_RESET = {"ground_truth": None, "feedback": None, "persona_override": None, "as_of": None, "record": None,
              "answer_options": None, "rating_scale": None, "forget_statements": None}


def update_memory(state: AgentState, ctx: Context, resources: Resources) -> dict:
    answer = last_answer(state["messages"])
    memory = resources.memory_for(ctx)
    if state.get("forget_statements"):
        memory.forget_statements(ctx.user_id, state["forget_statements"])
    if state.get("record") is False:
        return {"answer": answer, "interaction_id": None, "labelled": None, "stated": [], **TURN_RESET}
    spec = request_spec(state)
    item = Interaction(
        user_id=ctx.user_id,
        query=current_query(state["messages"]),
        answer=answer,
        ground_truth=spec.truth(state["ground_truth"]) if spec and state.get("ground_truth") is not None
        else state.get("ground_truth"),
        feedback=state.get("feedback"),
        timestamp=time.time(),
        metadata={"truncated": True} if state.get("answer_truncated") else {},
        options=list(spec.options) if spec and spec.options else None,
        scale=spec.scale.to_dict() if spec and spec.scale else None,
    )
    memory.episodes.add([item])
    told = stated_in(resources.agent_model_for(ctx), [item], resources.retry)
    memory.keep_stated(ctx.user_id, told)
    if memory.profile_is_stale(ctx.user_id, _profile_every(memory, ctx)):
        try:
            memory.refresh_profile(ctx.user_id, resources.optimizer_model_for(ctx), resources.retry,
                                   ctx.cold_start_below, ctx.recency_half_life_days)
        except TRANSIENT as exc:  # the turn is stored; the profile is refreshed on a later turn
            log.warning("profile refresh of %s failed, will retry on a later turn: %r", ctx.user_id, exc)
    return {"answer": answer, "interaction_id": item.id, "labelled": item.labelled,
            "stated": [s.text for s in told], **TURN_RESET}


def _profile_every(memory, ctx: Context) -> int:
    """Interactions between profile refreshes: ``profile_every``, or fewer while the user is cold."""
    if ctx.cold_start_below and neighbours.is_cold(memory, ctx.user_id, ctx.cold_start_below):
        return min(ctx.profile_every, neighbours.COLD_REFRESH_EVERY)
    return ctx.profile_every
