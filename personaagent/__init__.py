"""PersonaAgent: per-user evolving personas for LLM agents, on LangGraph, LangChain and Chroma.

The public names below are imported on first use, so ``import personaagent`` (and the CLI's
``--help``) loads no store, model client or graph.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Context": "context", "ModelSettings": "models", "chat_model": "models",
    "IngestError": "errors", "InvalidUserId": "errors", "LocalModelError": "errors", "PersonaAgentError": "errors",
    "PersonaConflict": "errors", "UnknownVersion": "errors", "VersionConflict": "errors",
    "Interaction": "memory", "LangChainEmbeddings": "memory", "MemoryStore": "memory",
    "Score": "metrics", "OptimizerSettings": "settings", "Resources": "resources",
    "build_agent_graph": "graphs.agent", "build_optimizer_graph": "graphs.optimizer",
    "run_optimizer": "optimize", "maybe_schedule": "scheduling",
    "OptimizedPersona": "standalone", "optimize_persona": "standalone",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'personaagent' has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
