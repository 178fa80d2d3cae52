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
    max_retries: int = 2
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
        return ChatOpenAI(
            base_url=settings.base_url or None,
            # Local OpenAI-compatible servers (vLLM, Ollama) accept any key; ChatOpenAI needs one.
            api_key=settings.api_key or "not-needed",
            model=settings.model or DEFAULT_REMOTE_MODEL,
            temperature=settings.temperature,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
            max_tokens=settings.max_tokens,
        )
    from .local_model import ensure_local_server

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
    )


def structured(model: BaseChatModel, schema: Any) -> Runnable:
    """Structured output that works on llama.cpp server and on OpenAI alike.

    langchain-openai's default ``json_schema`` method gets HTTP 500 from llama.cpp server;
    ``function_calling`` works on both.
    """
    return model.with_structured_output(schema, method="function_calling")
