"""The one factory for chat models.

A configured OpenAI-compatible endpoint (base URL and/or API key) gets a ``ChatOpenAI`` for it.
Nothing configured: the embedded default, a llama.cpp server on loopback serving the packaged
model, reached through the very same ``ChatOpenAI`` code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

DEFAULT_REMOTE_MODEL = "gpt-4o-mini"
LOCAL_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class ModelSettings:
    base_url: str = ""
    api_key: str = ""
    model: str = ""
    temperature: float = 0.0
    timeout_s: float = 120.0
    max_retries: int = 0  # the client does not retry: resilience.retried is the one retry layer
    max_tokens: int = 768  # bounds every reply (a persona rewrite is at most ~600 tokens)

    @property
    def is_remote(self) -> bool:
        """True when an endpoint is configured; False means the embedded local model."""
        return bool(self.base_url or self.api_key)


@lru_cache(maxsize=16)
def chat_model(settings: ModelSettings) -> BaseChatModel:
    """A chat model for ``settings``; one instance per distinct settings in this process."""
    from langchain_openai import ChatOpenAI

    if settings.is_remote:
        official = not settings.base_url or "api.openai.com" in settings.base_url
        return ChatOpenAI(
            base_url=settings.base_url or None,
            # Local OpenAI-compatible servers (vLLM, Ollama) accept any key; ChatOpenAI needs one.
            api_key=settings.api_key or "not-needed",
            model=settings.model or DEFAULT_REMOTE_MODEL,
            temperature=settings.temperature,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
            max_tokens=settings.max_tokens,
            **({} if official else _max_tokens_body(settings.max_tokens)),
        )
    from .local import ensure_local_server

    server = ensure_local_server()
    return ChatOpenAI(
        base_url=server.base_url,
        api_key="local",
        model=server.model_alias,
        temperature=settings.temperature,
        # one CPU server answers requests in turn: a long prompt behind others can take minutes
        timeout=max(settings.timeout_s, LOCAL_TIMEOUT_S),
        max_retries=settings.max_retries,
        max_tokens=settings.max_tokens,
        **_max_tokens_body(settings.max_tokens),
    )


def _max_tokens_body(max_tokens: int) -> dict[str, Any]:
    """langchain-openai sends the reply bound as ``max_completion_tokens`` (OpenAI's current name);
    llama.cpp server ignores that name and Ollama may too, so other endpoints also get the older
    ``max_tokens`` in the request body."""
    return {"extra_body": {"max_tokens": max_tokens}}


def limited(model: BaseChatModel, max_tokens: int, **kwargs: Any) -> Runnable:
    """``model`` bound to reply with at most ``max_tokens`` tokens (and ``kwargs``), in a way that
    endpoints which ignore ``max_completion_tokens`` honour too."""
    extra = getattr(model, "extra_body", None)
    if isinstance(extra, dict) and "max_tokens" in extra:
        kwargs["extra_body"] = {**extra, "max_tokens": max_tokens}
    return model.bind(max_tokens=max_tokens, **kwargs)


def structured(model: BaseChatModel, schema: Any, **kwargs: Any) -> Runnable:
    """Structured output that works on llama.cpp server and on OpenAI alike.

    langchain-openai's default ``json_schema`` method gets HTTP 500 from llama.cpp server;
    ``function_calling`` works on both.
    """
    return model.with_structured_output(schema, method="function_calling", **kwargs)
