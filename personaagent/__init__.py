"""PersonaAgent: per-user evolving personas for LLM agents, on LangGraph, LangChain and Chroma."""

from .context import Context
from .errors import (
    IngestError,
    InvalidUserId,
    LocalModelError,
    PersonaAgentError,
    UnknownVersion,
)
from .graphs.agent import build_agent_graph
from .graphs.optimizer import build_optimizer_graph
from .memory import Interaction, LangChainEmbeddings, MemoryStore
from .metrics import Score
from .models import ModelSettings, chat_model
from .optimize import run_optimizer
from .resources import Resources
from .standalone import OptimizedPersona, optimize_persona

__all__ = [
    "Context", "IngestError", "Interaction", "InvalidUserId", "LangChainEmbeddings", "LocalModelError",
    "MemoryStore", "ModelSettings", "OptimizedPersona", "PersonaAgentError", "Resources", "Score",
    "UnknownVersion", "build_agent_graph", "build_optimizer_graph", "chat_model", "optimize_persona", "run_optimizer",
]
__version__ = "0.1.0"
