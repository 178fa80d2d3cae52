"""Running the optimizer graph: one user (with progress and resume from a checkpointer), many users
at once, and the summaries and diffs the CLI prints. Background runs are in ``scheduling``."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from difflib import unified_diff
from typing import Any, Callable

from langgraph.checkpoint.base import BaseCheckpointSaver

from ..context import Context
from ..errors import PersonaAgentError
from ..graphs.optimizer import build_optimizer_graph
from ..state import OptimizerOutput
from ..memory.store import MemoryStore
from ..resources import Resources
from ..persona.settings import DEFAULT_CONCURRENCY, OptimizerSettings


def run_optimizer(
    context: Context,
    resources: Resources,
    settings: OptimizerSettings | dict[str, Any] | None = None,
    checkpointer: BaseCheckpointSaver | None = None,
    thread_id: str | None = None,
    restart: bool = False,
    on_iteration: Callable[[dict], None] | None = None,
) -> dict:
    """Optimize ``context.user_id``'s persona under ``settings`` (an ``OptimizerSettings`` or a
    mapping of its fields); returns the run summary (the graph's output).

    Without a ``checkpointer``, the store's (``MemoryStore.checkpointer``): on Postgres, the
    database. With a persistent checkpointer, an interrupted run on ``thread_id`` resumes from its last
    completed step unless ``restart``; a finished thread is cleared before a new run. ``on_iteration`` gets
    each loss-curve point as it is decided.
    """
    if checkpointer is None:  # the store's: Postgres (resumable from any process), else this process's memory
        with resources.memory_for(context).checkpointer() as saver:
            return run_optimizer(context, resources, settings, saver, thread_id, restart, on_iteration)
    graph = build_optimizer_graph(resources).compile(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": thread_id or f"optimize:{context.user_id}"}}
    if at_once := resources.calls_at_once_for(context):
        config["max_concurrency"] = at_once
    payload: OptimizerSettings | None = OptimizerSettings.of(settings)
    previous = graph.get_state(config)
    if previous.next and not restart:
        payload = None  # resume where it stopped
    else:
        if previous.next and previous.values.get("run_id"):  # an interrupted run given up on
            resources.memory_for(context).runs.finish(previous.values["run_id"], "abandoned")
        checkpointer.delete_thread(config["configurable"]["thread_id"])
    # "sync": each step's checkpoint is on disk before the next step starts, so a kill -9 loses at
    # most the step under way (with the default, "async", steps already completed can be lost too)
    for chunk in graph.stream(payload, config, context=context, stream_mode="updates", durability="sync"):
        for update in chunk.values():  # whichever node decides a round adds its point to the loss curve
            if on_iteration and isinstance(update, dict) and update.get("loss_curve"):
                on_iteration(update["loss_curve"][-1])
    values = graph.get_state(config).values
    return {key: values[key] for key in OptimizerOutput.__annotations__ if key in values}


def optimize_users(
    contexts: list[Context], resources: Resources, settings: OptimizerSettings | dict[str, Any] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_done: Callable[[str, dict | BaseException], None] | None = None,
) -> dict[str, dict | BaseException]:
    """Optimize many users' personas, ``concurrency`` at a time (model calls dominate, so threads
    overlap their waiting). Returns each user's summary, or the exception that ended their run; one
    user's failure does not stop the others."""
    if concurrency < 1:
        raise PersonaAgentError(f"concurrency must be at least 1 (got {concurrency})")
    graph = build_optimizer_graph(resources).compile()
    payload = OptimizerSettings.of(settings)

    def one(context: Context) -> dict:
        return graph.invoke(payload, context=context)

    results: dict[str, dict | BaseException] = {}
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="optimize-users") as pool:
        futures = {pool.submit(one, context): context.user_id for context in contexts}
        for future in as_completed(futures):
            user = futures[future]
            results[user] = future.exception() or future.result()
            if on_done:
                on_done(user, results[user])
    return results


def format_number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def format_summary(summary: dict) -> str:
    lines = [f"metric: {summary.get('metric')}   stop: {summary.get('stop_reason')}   "
             f"accepted: {summary.get('accepted')}   rejected: {summary.get('rejected')}   "
             f"model calls: {summary.get('model_calls')}   tokens: {summary.get('tokens')}",
             f"critique saw {len(summary.get('reflection', []))} sample(s); selection judged on "
             f"{len(summary.get('selection', []))}"]
    pool = summary.get("pool", [])
    for point in summary.get("loss_curve", []):
        validation = "" if point.get("validation_loss") is None else f"  validation {format_number(point['validation_loss'])}"
        lines.append(f"  iter {point['iteration']}: loss {format_number(point['loss'])}  (batch "
                     f"{format_number(point['batch_loss'])}{validation})  {point['outcome']}"
                     + (f" ({point['operator']}, {point['change']} chars changed)" if point.get("operator") else ""))
        for c in (c for c in pool if c["iteration"] == point["iteration"]):
            lines.append(f"      {c['operator']:<8} {c['note'][:60]:<60} gain {c['improvement']:+.3f}  "
                         f"wins {c['wins']} losses {c['losses']}  {'accepted' if c['accepted'] else 'rejected'}")
    lines.append(f"loss {format_number(summary.get('initial_loss'))} → {format_number(summary.get('best_loss'))}; "
                 f"current persona v{summary.get('final_version')}")
    return "\n".join(lines)


def persona_diff(memory: MemoryStore, user_id: str, a: int, b: int) -> str:
    """A unified diff between two persona versions of a user."""
    old, new = memory.personas.get(user_id, a), memory.personas.get(user_id, b)
    return "".join(unified_diff(old.text.splitlines(True), new.text.splitlines(True),
                                fromfile=f"{user_id} v{a}", tofile=f"{user_id} v{b}"))
