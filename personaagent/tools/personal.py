"""Tools over the user's own memory. The user id comes from the runtime context (``ToolRuntime``; any
context ``Context.of`` reads, so the tools also work inside a host app),
never from the model's arguments, so a model cannot ask for another user's data. Retrieval honours
the run's ``as_of`` cut-off (the optimizer's simulations must not see later interactions)."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime

from ..context import Context
from ..memory.store import MemoryStore
from ..resources import Resources
from . import sources

HISTORY_TOOL = "search_history"


def make_personal_tools(resources: Resources) -> list[BaseTool]:
    def run_of(runtime: ToolRuntime[Any]) -> tuple[Context, MemoryStore, float | None]:
        """The tool call's Context (resolved here, once), its user's store, and the run's cut-off."""
        ctx = Context.of(runtime.context)
        return ctx, resources.memory_for(ctx), (runtime.state or {}).get("as_of")

    @tool(HISTORY_TOOL)
    def search_history(query: str, runtime: ToolRuntime[Any]) -> str:
        """Search this user's past requests and what they chose, most similar to `query` first."""
        ctx, memory, as_of = run_of(runtime)
        found = sources.history_text(memory, ctx.user_id, query, ctx.top_k, as_of, ctx.recency_half_life_days)
        return f"<history>\n{found}\n</history>"

    @tool
    def read_profile(runtime: ToolRuntime[Any]) -> str:
        """Read the summary of this user's tastes and habits."""
        ctx, memory, as_of = run_of(runtime)
        return f"<profile>\n{sources.profile_text(memory, ctx.user_id, as_of)}\n</profile>"

    @tool
    def search_knowledge(query: str, runtime: ToolRuntime[Any]) -> str:
        """Search the user's knowledge collection (their catalogue of items, notes) for `query`."""
        ctx, memory, _ = run_of(runtime)
        return f"<knowledge>\n{sources.knowledge_text(memory, ctx.user_id, query, ctx.top_k)}\n</knowledge>"

    return [search_history, read_profile, search_knowledge]
