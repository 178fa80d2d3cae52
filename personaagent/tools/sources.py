"""The user's sources as prompt text: history, profile, knowledge, the web. The lookup node reads
them before the model answers (as the persona's lookup rules ask), and the tools read them when a
model calls them on its own; both go through these functions."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import httpx

from ..memory.episodic import Interaction
from ..memory.profile import describe
from ..memory.store import MemoryStore
from ..prompts import quote, quote_lines
from ..web import wikipedia

log = logging.getLogger(__name__)

NO_HISTORY = "(nothing similar in this user's history)"
NO_PROFILE = "(no profile yet)"
PROFILE_HIDDEN = "(not available for this run)"
NO_KNOWLEDGE = "(the knowledge collection is empty)"


def format_memories(items: list[Interaction]) -> str:
    """Past interactions as numbered, dated, quoted lines."""
    lines = []
    for n, item in enumerate(items, 1):
        day = datetime.fromtimestamp(item.timestamp, tz=timezone.utc).strftime("%Y-%m-%d")
        lines.append(f"{n}. [{day}] The user {describe(item)}")
    return "\n".join(lines)


def history_text(memory: MemoryStore, user_id: str, query: str, k: int, before: float | None,
                 half_life_days: float = 0.0) -> str:
    items = memory.episodes.search(user_id, query, k=k, before=before, half_life_days=half_life_days)
    return format_memories(items) if items else NO_HISTORY


def profile_text(memory: MemoryStore, user_id: str, as_of: float | None) -> str:
    """The latest profile, one quoted line per domain. A run restricted to the past (``as_of``)
    gets none: the profile summarises all of memory, later interactions included."""
    if as_of is not None:
        return PROFILE_HIDDEN
    profile = memory.profiles.latest(user_id)
    return quote_lines(profile.text) if profile else NO_PROFILE


def knowledge_text(memory: MemoryStore, user_id: str, query: str, k: int) -> str:
    items = memory.knowledge.search(user_id, query, k=k)
    return "\n".join(f"- {quote(i.text)}" for i in items) or NO_KNOWLEDGE


def web_text(query: str) -> str:
    """Wikipedia titles and snippets for ``query``; a failed search says so instead of failing
    the turn (the web is a lookup, not the answer)."""
    try:
        return wikipedia(query)
    except httpx.HTTPError as exc:
        log.warning("web lookup failed: %r", exc)
        return "(the web search failed)"
