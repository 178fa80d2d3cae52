"""request_optimization, a node of the served agent graph only: after a labelled turn, once
``optimize_every`` labelled interactions arrived since the user's last run, ask the LangGraph
server running this graph for a run of the ``optimizer`` graph, through the server's own runs API.

The run goes on a thread of its own per user, delayed by a debounce; a second request while one is
pending or running is rejected by the server (``multitask_strategy="reject"``). So scheduled runs
are checkpointed, resumable, and visible in Studio, and this node never runs the optimizer itself.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from ..context import Context
from ..resources import Resources
from ..persona.settings import OptimizerSettings
from ..state import AgentState

log = logging.getLogger(__name__)

OPTIMIZER_GRAPH = "optimizer"  # its name in langgraph.json
DEBOUNCE_S = 5
_THREADS = uuid.UUID("5c1f3f2e-8a4b-4e0b-9a57-0d5e7c1b9a21")


def optimizer_thread(user_id: str) -> str:
    """The thread a user's scheduled optimizer runs go on (the same on every server)."""
    return str(uuid.uuid5(_THREADS, user_id))


async def request_optimization(state: AgentState, ctx: Context, resources: Resources) -> dict:
    if state.get("interaction_id") is None or not state.get("labelled"):
        return {}
    memory = await asyncio.to_thread(resources.memory_for, ctx)  # store reads block: off the event loop
    if not await asyncio.to_thread(memory.optimization_due, ctx.user_id, ctx.optimize_every):
        return {}
    from langgraph_sdk import get_client
    from langgraph_sdk.errors import ConflictError

    client = get_client()  # in-process: the server this graph runs in
    thread = optimizer_thread(ctx.user_id)
    await client.threads.create(thread_id=thread, metadata={"owner": ctx.user_id}, if_exists="do_nothing")
    try:
        run = await client.runs.create(
            thread, OPTIMIZER_GRAPH, input=OptimizerSettings.of(trigger="scheduled").model_dump(),
            context={"user_id": ctx.user_id}, metadata={"owner": ctx.user_id, "trigger": "scheduled"},
            multitask_strategy="reject", after_seconds=DEBOUNCE_S)
    except ConflictError:  # one is already pending or running for this user
        log.info("optimization of %s already pending; this request was dropped", ctx.user_id)
        return {}
    log.info("scheduled optimization run %s for %s", run["run_id"], ctx.user_id)
    return {}
