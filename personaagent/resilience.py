"""Retrying model-calling graph nodes with backoff (LangGraph ``RetryPolicy``).

Transient: timeouts, dropped connections, 5xx and rate limits from an OpenAI-compatible endpoint,
and unusable replies (empty text, malformed structured output). Anything else — a bad request, a
wrong key, a bug — fails at once. Nodes are retried whole; the retried nodes write nothing before
their model call returns, so a retry never stores anything twice.
"""

from __future__ import annotations

import os

import httpx
import openai
from langchain_core.exceptions import OutputParserException
from langgraph.types import RetryPolicy
from pydantic import ValidationError

from .errors import ModelReplyError, PersonaAgentError

TRANSIENT: tuple[type[BaseException], ...] = (
    TimeoutError, ConnectionError, ModelReplyError, OutputParserException, ValidationError,
    openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError,
    httpx.TimeoutException, httpx.TransportError,
)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT)


def model_retry(max_attempts: int | None = None, initial_interval: float = 0.5, max_interval: float = 20.0) -> RetryPolicy:
    """Up to ``max_attempts`` tries (default ``$PERSONAAGENT_RETRY_ATTEMPTS`` or 4), waiting
    ``initial_interval`` × 2ⁿ (with jitter) in between."""
    if max_attempts is None:
        max_attempts = int(os.environ.get("PERSONAAGENT_RETRY_ATTEMPTS") or 4)
    if max_attempts < 1:
        raise PersonaAgentError(f"retry attempts must be at least 1 (got {max_attempts})")
    return RetryPolicy(initial_interval=initial_interval, backoff_factor=2.0, max_interval=max_interval,
                       max_attempts=max_attempts, jitter=True, retry_on=is_transient)
