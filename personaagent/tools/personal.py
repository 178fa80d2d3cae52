"""Tools over the user's own memory. The user id comes from the runtime context (``ToolRuntime``; any
context ``Context.of`` reads, so the tools also work inside a host app),
never from the model's arguments, so a model cannot ask for another user's data. Retrieval honours
the run's ``as_of`` cut-off (the optimizer's simulations must not see later interactions)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime

from ..context import Context
from ..prompts import quote, quote_lines
from ..memory.episodic import Interaction
from ..memory.profile import describe
from ..resources import Resources

HISTORY_TOOL = "search_history"


def format_memories(items: list[Interaction]) -> str:
    lines = []
    for n, item in enumerate(items, 1):
        day = datetime.fromtimestamp(item.timestamp, tz=timezone.utc).strftime("%Y-%m-%d")
        lines.append(f"{n}. [{day}] The user {describe(item)}")
    return "\n".join(lines)


def make_personal_tools(resources: Resources) -> list[BaseTool]:
    @tool(HISTORY_TOOL)
    def search_history(query: str, runtime: ToolRuntime[Any]) -> str:
        """Search this user's past requests and what they chose, most similar to `query` first."""
        ctx = Context.of(runtime.context)
        items = resources.memory_for(ctx).episodes.search(
            ctx.user_id, query, k=ctx.top_k, before=(runtime.state or {}).get("as_of")
        )
        body = format_memories(items) if items else "(nothing similar in this user's history)"
        return f"<history>\n{body}\n</history>"

    @tool
    def read_profile(runtime: ToolRuntime[Any]) -> str:
        """Read the summary of this user's tastes and habits."""
        ctx = Context.of(runtime.context)
        if (runtime.state or {}).get("as_of") is not None:  # the profile may reflect later interactions
            return "<profile>\n(not available for this run)\n</profile>"
        profile = resources.memory_for(ctx).profiles.latest(ctx.user_id)
        return f"<profile>\n{quote_lines(profile.text) if profile else '(no profile yet)'}\n</profile>"

    @tool
    def search_knowledge(query: str, runtime: ToolRuntime[Any]) -> str:
        """Search the user's knowledge collection (their catalogue of items, notes) for `query`."""
        ctx = Context.of(runtime.context)
        items = resources.memory_for(ctx).knowledge.search(ctx.user_id, query, k=ctx.top_k)
        body = "\n".join(f"- {quote(i.text)}" for i in items) or "(the knowledge collection is empty)"
        return f"<knowledge>\n{body}\n</knowledge>"

    return [search_history, read_profile, search_knowledge]
