"""Tools over the user's own memory. The user id comes from the runtime context (``ToolRuntime``; any
context ``Context.of`` reads, so the tools also work inside a host app),
never from the model's arguments, so a model cannot ask for another user's data. Retrieval honours
the run's ``as_of`` cut-off (the optimizer's simulations must not see later interactions)."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime

from ..context import Context
from ..resources import Resources
from . import sources

HISTORY_TOOL = "search_history"


def make_personal_tools(resources: Resources) -> list[BaseTool]:
    @tool(HISTORY_TOOL)
    def search_history(query: str, runtime: ToolRuntime[Any]) -> str:
        """Search this user's past requests and what they chose, most similar to `query` first."""
        ctx = Context.of(runtime.context)
        body = sources.history_text(resources.memory_for(ctx), ctx.user_id, query, ctx.top_k,
                                    (runtime.state or {}).get("as_of"))
        return f"<history>\n{body}\n</history>"

    @tool
    def read_profile(runtime: ToolRuntime[Any]) -> str:
        """Read the summary of this user's tastes and habits."""
        ctx = Context.of(runtime.context)
        body = sources.profile_text(resources.memory_for(ctx), ctx.user_id, (runtime.state or {}).get("as_of"))
        return f"<profile>\n{body}\n</profile>"

    @tool
    def search_knowledge(query: str, runtime: ToolRuntime[Any]) -> str:
        """Search the user's knowledge collection (their catalogue of items, notes) for `query`."""
        ctx = Context.of(runtime.context)
        body = sources.knowledge_text(resources.memory_for(ctx), ctx.user_id, query, ctx.top_k)
        return f"<knowledge>\n{body}\n</knowledge>"

    return [search_history, read_profile, search_knowledge]
