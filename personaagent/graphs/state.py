"""Graph state. ``InputState`` is what a caller (or Studio) sends; per-turn fields are cleared by
``update_memory`` so they never leak into the next turn of a checkpointed thread."""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict


class InputState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    ground_truth: str | None  # what the user really wanted for this request (a labelled interaction)
    feedback: str | None  # free-text feedback on this request
    persona_override: str | None  # act under this persona instead of the stored one (optimizer)
    as_of: float | None  # retrieve only memories strictly older than this epoch time
    record: bool | None  # False: do not write this interaction to memory (default: write)


class OutputState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    answer: str
    retrieved: list[dict[str, Any]]
    persona_version: int | None
    interaction_id: str | None
    model_calls: Annotated[int, operator.add]  # chat-model calls made by the reason node
    tokens: Annotated[int, operator.add]  # their total tokens, when the model reports usage


class AgentState(InputState, OutputState, total=False):
    persona: str  # the persona text this turn runs under
    profile: str
