"""Helpers over a thread's messages: the current request, the current turn, a bounded window."""

from __future__ import annotations

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage

from ..errors import PersonaAgentError
from ..memory.episodic import MAX_QUERY_CHARS


def _last_human_index(messages: list[AnyMessage]) -> int:
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], HumanMessage):
            return i
    raise PersonaAgentError("the input has no user message")


def current_query(messages: list[AnyMessage]) -> str:
    """The latest user message's text, validated (non-empty, bounded)."""
    text = messages[_last_human_index(messages)].text.strip()
    if not text:
        raise PersonaAgentError("the user message is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise PersonaAgentError(f"the user message is {len(text)} characters; the limit is {MAX_QUERY_CHARS}")
    return text


def current_turn(messages: list[AnyMessage]) -> list[AnyMessage]:
    return messages[_last_human_index(messages):]


def tool_rounds(messages: list[AnyMessage]) -> int:
    """How many times the model has called tools since the latest user message."""
    return sum(1 for m in current_turn(messages) if isinstance(m, AIMessage) and m.tool_calls)


def recent_window(messages: list[AnyMessage], turns: int = 3) -> list[AnyMessage]:
    """The last ``turns`` user turns (whole, so tool calls keep their results)."""
    starts = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
    return messages[starts[-turns]:] if len(starts) > turns else list(messages)


def last_answer(messages: list[AnyMessage]) -> str:
    for message in reversed(current_turn(messages)):
        if isinstance(message, AIMessage) and not message.tool_calls:
            return message.text.strip()
    return ""
