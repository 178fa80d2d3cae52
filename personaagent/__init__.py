"""PersonaAgent: per-user evolving personas for LLM agents, on LangGraph, LangChain and Chroma.

The public names below are imported on first use, so ``import personaagent`` (and the CLI's
``--help``) loads no store, model client or graph.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Context": "context", "ModelSettings": "models.factory", "chat_model": "models.factory",
    "IngestError": "errors", "InvalidUserId": "errors", "LocalModelError": "errors", "PersonaAgentError": "errors",
    "PersonaConflict": "errors", "UnknownVersion": "errors", "VersionConflict": "errors",
    "Interaction": "memory", "LangChainEmbeddings": "memory", "MemoryStore": "memory",
    "Score": "persona.losses", "OptimizerSettings": "persona.settings", "Resources": "resources",
    "build_agent_graph": "graphs.agent", "build_optimizer_graph": "graphs.optimizer",
    "run_optimizer": "services.optimize", "maybe_schedule": "services.scheduling",
    "OptimizedPersona": "services.standalone", "optimize_persona": "services.standalone",
    "assistant_tool": "services.embed",
}
if TYPE_CHECKING:  # what type checkers and IDEs see; at run time the names load on first use
    from .context import Context
    from .errors import (IngestError, InvalidUserId, LocalModelError, PersonaAgentError, PersonaConflict,
                         UnknownVersion, VersionConflict)
    from .graphs.agent import build_agent_graph
    from .graphs.optimizer import build_optimizer_graph
    from .memory import Interaction, LangChainEmbeddings, MemoryStore
    from .models.factory import ModelSettings, chat_model
    from .persona.losses import Score
    from .persona.settings import OptimizerSettings
    from .resources import Resources
    from .services.embed import assistant_tool
    from .services.optimize import run_optimizer
    from .services.scheduling import maybe_schedule
    from .services.standalone import OptimizedPersona, optimize_persona
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'personaagent' has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
