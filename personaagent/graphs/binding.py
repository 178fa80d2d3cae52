"""How a node function becomes a LangGraph node: the run's ``Context`` is resolved from the runtime
context in this one place, and the node gets it with the graph's ``Resources``."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from langgraph.runtime import Runtime

from ..context import Context
from ..resources import Resources


def bind(fn: Callable[..., Any], resources: Resources, **fixed: Any) -> Callable[..., Any]:
    """``fn(state, ctx, resources, **fixed)`` as a node taking ``(state, runtime)`` (a coroutine
    function gives an async node)."""
    if inspect.iscoroutinefunction(fn):
        async def node(state: Any, runtime: Runtime[Context]) -> Any:
            return await fn(state, Context.of(runtime.context), resources, **fixed)
    else:
        def node(state: Any, runtime: Runtime[Context]) -> Any:
            return fn(state, Context.of(runtime.context), resources, **fixed)

    # named like ``fn`` for traces, but not ``functools.wraps``: LangGraph reads the node's own
    # signature (its ``runtime`` parameter), which ``__wrapped__`` would hide
    node.__name__, node.__qualname__, node.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    return node
