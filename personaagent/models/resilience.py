"""The one retry layer for model calls: each call (with the check of its reply) is retried on its
own with exponential backoff and jitter, under a LangGraph ``RetryPolicy``'s settings. The chat
clients themselves do not retry (``max_retries=0``) and model-calling nodes carry no retry
policy, so one verdict or one simulated answer costs at most ``max_attempts`` requests, and a
failed call never redoes the calls before it. Nodes that only read memory keep a node retry.

Transient: timeouts, dropped connections, 5xx and rate limits from an OpenAI-compatible endpoint,
and unusable replies (empty text, malformed tool calls or structured output). Anything else — a
bad request, a wrong key, a bug — fails at once.
"""

from __future__ import annotations

import httpx
import openai
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableLambda
from langgraph.types import RetryPolicy
from pydantic import ValidationError

from .. import environment
from ..errors import ModelReplyError, PersonaAgentError

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
        max_attempts = environment.whole_number("PERSONAAGENT_RETRY_ATTEMPTS")
    if max_attempts < 1:
        raise PersonaAgentError(f"retry attempts must be at least 1 (got {max_attempts})")
    return RetryPolicy(initial_interval=initial_interval, backoff_factor=2.0, max_interval=max_interval,
                       max_attempts=max_attempts, jitter=True, retry_on=is_transient)


def retried(runnable: Runnable, policy: RetryPolicy | None = None) -> Runnable:
    """``runnable`` (a model call, piped into the check of its reply) retried on transient
    failures under ``policy`` (default ``model_retry()``)."""
    policy = policy or model_retry()
    return runnable.with_retry(
        retry_if_exception_type=TRANSIENT, stop_after_attempt=policy.max_attempts, wait_exponential_jitter=True,
        exponential_jitter_params={"multiplier": policy.initial_interval, "max": policy.max_interval,
                                   "exp_base": policy.backoff_factor, "jitter": policy.initial_interval})


def _require_text(reply: BaseMessage) -> BaseMessage:
    if not getattr(reply, "tool_calls", None) and getattr(reply, "invalid_tool_calls", None):
        raise ModelReplyError(f"the model's tool call was malformed: {reply.invalid_tool_calls[0].get('error')}")
    if not getattr(reply, "tool_calls", None) and not reply.text.strip():
        raise ModelReplyError("the model returned an empty reply")
    return reply


def usable_reply(model: Runnable, policy: RetryPolicy | None = None) -> Runnable:
    """``model`` whose replies must be text or well-formed tool calls, retried until they are."""
    return retried(model | RunnableLambda(_require_text, name="usable_reply"), policy)
