"""Every environment variable PersonaAgent reads, in one place: its name, its default and what it
does. The rest of the package reads them only through the functions here, never ``os.environ``
(``tests/test_environment.py`` checks). A variable that is unset or empty takes its default.

The runtime ``Context`` takes the defaults of its model, Chroma and embedding fields from the
variables marked ``Context.<field>`` (their meaning is that field's description)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import PersonaAgentError


@dataclass(frozen=True)
class Variable:
    name: str
    default: str
    meaning: str


VARIABLES = {v.name: v for v in (
    Variable("PERSONAAGENT_HOME", "~/.personaagent",
             "where PersonaAgent keeps its data: the Chroma store, the optimizer's checkpoints"),
    Variable("PERSONAAGENT_BASE_URL", "", "Context.model_base_url"),
    Variable("PERSONAAGENT_API_KEY", "", "Context.model_api_key"),
    Variable("PERSONAAGENT_MODEL", "", "Context.model_name"),
    Variable("PERSONAAGENT_OPTIMIZER_BASE_URL", "", "Context.optimizer_base_url"),
    Variable("PERSONAAGENT_OPTIMIZER_API_KEY", "", "Context.optimizer_api_key"),
    Variable("PERSONAAGENT_OPTIMIZER_MODEL", "", "Context.optimizer_model_name"),
    Variable("PERSONAAGENT_COLD_START_BELOW", "0", "Context.cold_start_below"),
    Variable("PERSONAAGENT_RECENCY_HALF_LIFE_DAYS", "0", "Context.recency_half_life_days"),
    Variable("PERSONAAGENT_MEMORY", "", "Context.memory_url"),
    Variable("PERSONAAGENT_CHROMA_PATH", "", "Context.chroma_path"),
    Variable("PERSONAAGENT_CHROMA_HOST", "", "Context.chroma_host"),
    Variable("PERSONAAGENT_CHROMA_PORT", "8000", "Context.chroma_port"),
    Variable("PERSONAAGENT_EMBEDDING_BASE_URL", "", "Context.embedding_base_url"),
    Variable("PERSONAAGENT_EMBEDDING_MODEL", "", "Context.embedding_model"),
    Variable("PERSONAAGENT_EMBEDDING_API_KEY", "",
             "API key of the embeddings endpoint (read at each call, never stored with a collection)"),
    Variable("PERSONAAGENT_RETRY_ATTEMPTS", "4", "tries of each model call on a transient failure"),
    Variable("PERSONAAGENT_WEB_SEARCH", "1", "0: no Wikipedia lookups, without checking the network"),
    Variable("PERSONAAGENT_CACHE", "~/.cache/personaagent", "where the embedded model's file is assembled"),
    Variable("PERSONAAGENT_WARM_CACHE", "", "1: load a store's vector cache when the store is opened"),
    Variable("PERSONAAGENT_DATA", "../shared/data", "the evaluation's datasets (personaagent eval)"),
    Variable("PERSONAAGENT_AUTH", "", "off: the LangGraph server accepts every request, as any user "
             "(only for a server nobody else can reach)"),
    Variable("PERSONAAGENT_AUTH_TOKENS", "", "the LangGraph server's API tokens: token=user pairs, comma-separated"),
    Variable("PERSONAAGENT_AUTH_TOKENS_FILE", "", "a JSON file of the server's API tokens: {token: user}"),
)}


def value(name: str) -> str:
    """The variable ``name``, or its default when it is unset or empty. A name outside
    ``VARIABLES`` (the environment variable a stored embedding function names for its key) has
    no default."""
    known = VARIABLES.get(name)
    return os.environ.get(name) or (known.default if known else "")


def path(name: str) -> Path:
    return Path(value(name)).expanduser()


def flag(name: str) -> bool:
    """Whether the variable says yes (1, true or yes)."""
    return value(name).strip().lower() in ("1", "true", "yes")


def number(name: str) -> float:
    try:
        return float(value(name))
    except ValueError:
        raise PersonaAgentError(f"{name} must be a number (got {value(name)!r})") from None


def whole_number(name: str) -> int:
    try:
        return int(value(name))
    except ValueError:
        raise PersonaAgentError(f"{name} must be a whole number (got {value(name)!r})") from None
