"""The web search tool, offered to the model only when the network reaches Wikipedia."""

from __future__ import annotations

from langchain_core.tools import tool

from ..web import network_available, wikipedia

__all__ = ["network_available", "search_wikipedia"]


@tool
def search_wikipedia(query: str) -> str:
    """Search Wikipedia for general facts about `query` (titles and snippets)."""
    return f"<web>\n{wikipedia(query)}\n</web>"
