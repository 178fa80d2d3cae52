"""Helpers over a thread's messages: the current request, the current turn, a bounded window."""

from __future__ import annotations

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from ..answers.closed_form import AnswerSpec
from ..errors import InvalidInput
from ..memory.episodic import MAX_QUERY_CHARS


def _last_human_index(messages: list[AnyMessage]) -> int:
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], HumanMessage):
            return i
    raise InvalidInput("the input has no user message")


def current_query(messages: list[AnyMessage]) -> str:
    """The latest user message's text, validated (non-empty, bounded)."""
    text = messages[_last_human_index(messages)].text.strip()
    if not text:
        raise InvalidInput("the user message is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInput(f"the user message is {len(text)} characters; the limit is {MAX_QUERY_CHARS}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # undecodable bytes (e.g. from a terminal) arrive as lone surrogates
        raise InvalidInput(f"the user message is not valid UTF-8 text (at character {exc.start + 1})") from None
    if "\x00" in text:
        raise InvalidInput("the user message contains a NUL character")
    return text


def current_turn(messages: list[AnyMessage]) -> list[AnyMessage]:
    return messages[_last_human_index(messages):]


def tool_rounds(messages: list[AnyMessage]) -> int:
    """How many times the model has called tools since the latest user message."""
    return sum(1 for m in current_turn(messages) if isinstance(m, AIMessage) and m.tool_calls)


def conversation(messages: list[AnyMessage], turns: int = 3) -> list[AnyMessage]:
    """The dialogue the model sees: the last ``turns`` user turns as plain user/assistant
    messages. Tool calls and tool results are left out (the current turn's results go into the
    system prompt instead: small models parrot a raw tool message back as their answer)."""
    starts = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
    window = messages[starts[-turns]:] if len(starts) > turns else messages
    return [
        m for m in window
        if isinstance(m, HumanMessage) or (isinstance(m, AIMessage) and not m.tool_calls and m.content)
    ]


def turn_tool_results(messages: list[AnyMessage]) -> list[ToolMessage]:
    return [m for m in current_turn(messages) if isinstance(m, ToolMessage)]


def last_answer(messages: list[AnyMessage]) -> str:
    for message in reversed(current_turn(messages)):
        if isinstance(message, AIMessage) and not message.tool_calls:
            return message.text.strip()
    return ""


def request_spec(state) -> AnswerSpec | None:
    """The answer set the request states (options or a rating scale), or None for free text."""
    return AnswerSpec.of(state.get("answer_options"), state.get("rating_scale"))
