"""Background optimizations, started by callers after a turn, never by a node of the agent graph.

In-process (the CLI's chat, an app embedding the graphs): ``maybe_schedule(context, resources)``
after a labelled turn queues a run on a worker thread once ``context.optimize_every`` labelled
interactions arrived since the user's last run; at most one run per user is pending or running
(further triggers meanwhile are dropped) and each waits a short debounce, so a burst of labelled
turns leads to one run. Under a LangGraph server the served agent graph asks the server instead
(``nodes.request_optimization``), so those runs are checkpointed and visible in Studio.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from ..context import Context
from ..graphs.optimizer import build_optimizer_graph
from ..resources import Resources
from ..persona.settings import OptimizerSettings

log = logging.getLogger(__name__)


class OptimizationScheduler:
    """One worker thread pool; at most one pending or running optimization per user."""

    def __init__(self, debounce_s: float = 2.0, max_workers: int = 2):
        self.debounce_s = debounce_s
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="persona-optimizer")
        self._pending: dict[str, Future] = {}
        self._lock = threading.Lock()

    def schedule(self, context: Context, resources: Resources) -> Future | None:
        """Queue an optimization of ``context.user_id``; None if one is already pending/running."""
        with self._lock:
            current = self._pending.get(context.user_id)
            if current is not None and not current.done():
                return None
            future = self._executor.submit(self._run, context, resources)
            self._pending[context.user_id] = future
            return future

    def _run(self, context: Context, resources: Resources) -> dict:
        time.sleep(self.debounce_s)
        memory = resources.memory_for(context)
        try:
            graph = build_optimizer_graph(resources).compile()
            summary = graph.invoke(OptimizerSettings.of(trigger="scheduled"), context=context)
            log.info("background optimization of %s: %s", context.user_id, summary.get("stop_reason"))
            return summary
        except Exception as exc:
            log.exception("background optimization of %s failed", context.user_id)
            for run in reversed(memory.runs.history(context.user_id)):
                if run["status"] == "running":
                    memory.runs.finish(run["run_id"], f"failed: {exc}")
                    break
            raise

    def wait(self, timeout: float | None = None) -> None:
        """Block until every scheduled optimization has finished (for tests and shutdown)."""
        for future in list(self._pending.values()):
            future.exception(timeout=timeout)


_default: OptimizationScheduler | None = None
_default_lock = threading.Lock()


def default_scheduler() -> OptimizationScheduler:
    global _default
    with _default_lock:
        if _default is None:
            _default = OptimizationScheduler()
        return _default


def maybe_schedule(context: Context, resources: Resources,
                   scheduler: OptimizationScheduler | None = None) -> Future | None:
    """Schedule a background optimization once ``context.optimize_every`` labelled interactions
    arrived since the user's last run (0 turns this off). Returns the run's future, or None."""
    if not resources.memory_for(context).optimization_due(context.user_id, context.optimize_every):
        return None
    return (scheduler or default_scheduler()).schedule(context, resources)
