"""What the graphs act on: the memory store and the chat models.

A ``Resources`` value given to a graph builder pins them (tests, apps with their own clients).
Anything left ``None`` is resolved per run from the runtime ``Context`` — so a graph served by
LangGraph reaches Chroma and its models through configuration, not module globals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from langchain_core.language_models import BaseChatModel
from langgraph.types import RetryPolicy

from .context import Context
from .memory.store import MemoryStore, memory_for
from .models.factory import chat_model
from .models.resilience import model_retry


@dataclass
class Resources:
    memory: MemoryStore | None = None
    agent_model: BaseChatModel | None = None
    optimizer_model: BaseChatModel | None = None
    # The optimizer's per-sample loss: (sample, answer) -> metrics.Score or (loss, feedback).
    # None: the metric named in the optimizer's input (auto/label/rating/judge).
    metric: Callable[[dict[str, Any], str], Any] | None = None
    # How model-calling nodes are retried on transient failures (see ``resilience``).
    retry: RetryPolicy = field(default_factory=model_retry)

    def memory_for(self, context: Context) -> MemoryStore:
        return self.memory or memory_for(context)

    def agent_model_for(self, context: Context) -> BaseChatModel:
        return self.agent_model or chat_model(context.agent_model())

    def tool_rounds_for(self, context: Context) -> int:
        """How many times the agent model may call tools on its own in one turn: the context's
        ``max_tool_rounds``, else 0 for the embedded model (it never calls a tool under
        ``tool_choice="auto"``, and writes calls as text instead) and 2 for any other model."""
        if context.max_tool_rounds is not None:
            return context.max_tool_rounds
        return 0 if self.embedded(context) else 2

    def calls_at_once_for(self, context: Context) -> int | None:
        """How many of a graph's parallel branches (the optimizer's simulations) may run at once:
        1 for the embedded model, whose one llama.cpp slot takes calls one at a time anyway, so
        running branches side by side only interleaves their calls and throws away the prompt
        prefix that each branch's next call would reuse; no limit for any other model."""
        return 1 if self.embedded(context) else None

    def embedded(self, context: Context) -> bool:
        """Whether the agent model is the embedded one (none pinned, no endpoint configured)."""
        return self.agent_model is None and not context.agent_model().is_remote

    def optimizer_model_for(self, context: Context) -> BaseChatModel:
        return self.optimizer_model or self.agent_model or chat_model(context.optimizer_model())
