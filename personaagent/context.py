"""The typed runtime Context of both graphs.

LangGraph passes it to every node (``runtime.context``) and tool (``ToolRuntime.context``);
LangGraph Studio renders it, with the field descriptions, as the run's configuration form.
Defaults come from ``PERSONAAGENT_*`` environment variables so the CLI, the server and a
LangChain app embedding the graphs all configure the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from . import environment, recency
from .errors import PersonaAgentError
from .models.factory import ModelSettings


def default_home() -> Path:
    """Where PersonaAgent keeps its data unless told otherwise (``PERSONAAGENT_HOME``)."""
    return environment.path("PERSONAAGENT_HOME")


def _env_field(env: str, description: str) -> str:
    return field(default_factory=lambda: environment.value(env), metadata={"description": description})


@dataclass(kw_only=True, frozen=True)
class Context:
    """Per-run settings: whose agent this is, which models, where memory lives."""

    user_id: str = field(
        default="default",
        metadata={"description": "The user this run acts for. Memory, profile and persona are theirs only."},
    )
    persona: Annotated[str, Field(json_schema_extra={"langgraph_nodes": ["reason"], "langgraph_type": "prompt"})] = field(
        default="",
        metadata={"description": "Try a persona: run under this text instead of the user's stored persona "
                  "(nothing is stored). Empty: the stored persona."},
    )
    model_base_url: str = _env_field(
        "PERSONAAGENT_BASE_URL",
        "OpenAI-compatible endpoint of the agent model (OpenAI, vLLM, Ollama, llama.cpp). "
        "Empty with no API key: the embedded local model.",
    )
    model_api_key: str = _env_field(
        "PERSONAAGENT_API_KEY", "API key for the agent model's endpoint (empty for local servers)."
    )
    model_name: str = _env_field(
        "PERSONAAGENT_MODEL", "Model name at the agent endpoint (e.g. gpt-4o-mini, llama3.1)."
    )
    optimizer_base_url: str = _env_field(
        "PERSONAAGENT_OPTIMIZER_BASE_URL",
        "Endpoint of the optimizer model (critique, rewrite, profile). Empty: same as the agent model.",
    )
    optimizer_api_key: str = _env_field(
        "PERSONAAGENT_OPTIMIZER_API_KEY", "API key for the optimizer endpoint."
    )
    optimizer_model_name: str = _env_field(
        "PERSONAAGENT_OPTIMIZER_MODEL", "Model name at the optimizer endpoint."
    )
    temperature: float = field(
        default=0.0, metadata={"description": "Sampling temperature of both models."}
    )
    top_k: int = field(
        default=4, metadata={"description": "How many past interactions retrieve_memory puts in the prompt."}
    )
    statements_shown: int = field(
        default=5,
        metadata={"description": "Most stated preferences a prompt shows, those closest to the request "
                  "(all stay in the persona; 0: all)."},
    )
    profile_every: int = field(
        default=10,
        metadata={"description": "Refresh the user's semantic profile after this many new interactions."},
    )
    optimize_every: int = field(
        default=0,
        metadata={"description": "Optimize the persona in the background after this many new labelled "
                  "interactions (0: never; use `personaagent optimize`)."},
    )
    check_options: bool = field(
        default=False,
        metadata={"description": "Check each option of a choice against what the user stated and weigh it by "
                  "that (a call per option; off: no gain on PrefEval)."},
    )
    option_orders: int = field(
        default=2,
        metadata={"description": "Orders a choice's options are read under (cyclic shifts, probabilities averaged), "
                  "so a letter weighs less: 2 (as accurate as all on PrefEval), 0 all, 1 as given."},
    )
    max_tool_rounds: int | None = field(
        default=None,
        metadata={"description": "Tool rounds the model may take on its own per turn (the history search and the "
                  "persona's lookups run anyway). Empty: 0 for the embedded model, 2 for others."},
    )
    cold_start_below: int = field(
        default_factory=lambda: environment.whole_number("PERSONAAGENT_COLD_START_BELOW"),
        metadata={"description": "Under this many labelled interactions, a persona borrows what similar users "
                  "share (0: never)."},
    )
    recency_half_life_days: float = field(
        default_factory=lambda: environment.number("PERSONAAGENT_RECENCY_HALF_LIFE_DAYS"),
        metadata={"description": "Recency half-life in days (0: off; candidate 90)."},
    )
    memory_url: str = _env_field(
        "PERSONAAGENT_MEMORY",
        "PostgreSQL URL (postgresql://USER:PASSWORD@HOST:PORT/DATABASE) for memory, chat threads and "
        "checkpoints, shareable by many processes. Empty: the Chroma store below.",
    )
    chroma_path: str = _env_field(
        "PERSONAAGENT_CHROMA_PATH",
        "Directory of the persistent Chroma store (default: $PERSONAAGENT_HOME/chroma).",
    )
    chroma_host: str = _env_field(
        "PERSONAAGENT_CHROMA_HOST", "Chroma server host. Set it to use a Chroma server instead of a directory."
    )
    chroma_port: int = field(
        default_factory=lambda: environment.whole_number("PERSONAAGENT_CHROMA_PORT"),
        metadata={"description": "Chroma server port."},
    )
    embedding_base_url: str = _env_field(
        "PERSONAAGENT_EMBEDDING_BASE_URL",
        "OpenAI-compatible embeddings endpoint. Empty: the embedded int8 MiniLM (offline).",
    )
    embedding_model: str = _env_field(
        "PERSONAAGENT_EMBEDDING_MODEL", "Embedding model name at that endpoint."
    )

    def __post_init__(self) -> None:
        recency.validated(self.recency_half_life_days)

    @classmethod
    def of(cls, value: Any) -> "Context":
        """The Context of a run. Embedded in another LangGraph graph or LangChain agent, the
        graphs inherit that app's runtime context: a dict or object with a ``user_id`` (plus any
        other Context field) is read here; no context at all means the defaults."""
        if isinstance(value, cls):
            return value
        if value is None:
            return cls()
        get = value.get if isinstance(value, Mapping) else lambda name, default=None: getattr(value, name, default)
        if get("user_id") is None:
            raise PersonaAgentError(f"the runtime context ({type(value).__name__}) has no user_id")
        return cls(**{f.name: get(f.name) for f in fields(cls) if get(f.name) is not None})

    def agent_model(self) -> ModelSettings:
        return ModelSettings(
            base_url=self.model_base_url,
            api_key=self.model_api_key,
            model=self.model_name,
            temperature=self.temperature,
        )

    def optimizer_model(self) -> ModelSettings:
        if not (self.optimizer_base_url or self.optimizer_api_key or self.optimizer_model_name):
            return self.agent_model()
        return ModelSettings(
            base_url=self.optimizer_base_url,
            api_key=self.optimizer_api_key,
            model=self.optimizer_model_name,
            temperature=self.temperature,
        )

    def resolved_chroma_path(self) -> Path:
        return Path(self.chroma_path) if self.chroma_path else default_home() / "chroma"
