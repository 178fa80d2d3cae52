"""Retrying model-calling graph nodes with backoff (LangGraph ``RetryPolicy``).

Transient: timeouts, dropped connections, 5xx and rate limits from an OpenAI-compatible endpoint,
and unusable replies (empty text, malformed structured output). Anything else — a bad request, a
wrong key, a bug — fails at once. Nodes are retried whole; the retried nodes write nothing before
their model call returns, so a retry never stores anything twice.
"""

from __future__ import annotations

import httpx
import openai
from langchain_core.exceptions import OutputParserException
from langgraph.types import RetryPolicy
from pydantic import ValidationError

from .errors import ModelReplyError

TRANSIENT: tuple[type[BaseException], ...] = (
    TimeoutError, ConnectionError, ModelReplyError, OutputParserException, ValidationError,
    openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError,
    httpx.TimeoutException, httpx.TransportError,
)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT)


def model_retry(max_attempts: int = 4, initial_interval: float = 0.5, max_interval: float = 20.0) -> RetryPolicy:
    """Up to ``max_attempts`` tries, waiting ``initial_interval`` × 2ⁿ (with jitter) in between."""
    return RetryPolicy(initial_interval=initial_interval, backoff_factor=2.0, max_interval=max_interval,
                       max_attempts=max_attempts, jitter=True, retry_on=is_transient)
