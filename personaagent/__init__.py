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
from .memory import Interaction, LangChainEmbeddings, MemoryStore
from .models import ModelSettings, chat_model
from .resources import Resources

__all__ = [
    "Context", "IngestError", "Interaction", "InvalidUserId", "LangChainEmbeddings", "LocalModelError",
    "MemoryStore", "ModelSettings", "PersonaAgentError", "Resources", "UnknownVersion",
    "build_agent_graph", "chat_model",
]
__version__ = "0.1.0"
