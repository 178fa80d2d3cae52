"""Episodic, semantic (profile) and persona memory plus a knowledge collection, behind one interface."""

from .embeddings import (
    LangChainEmbeddings,
    MiniLMEmbeddingFunction,
    OpenAICompatibleEmbeddingFunction,
    embedding_function,
)
from .episodic import EpisodicMemory, Interaction
from .ingest import read_history, read_knowledge
from .knowledge import KnowledgeBase, KnowledgeItem
from .store import MemoryStore, initial_persona, memory_for
from .versions import Version, VersionedTexts

__all__ = [
    "EpisodicMemory", "Interaction", "KnowledgeBase", "KnowledgeItem", "LangChainEmbeddings",
    "MemoryStore", "MiniLMEmbeddingFunction", "OpenAICompatibleEmbeddingFunction", "Version",
    "VersionedTexts", "embedding_function", "initial_persona", "memory_for", "read_history",
    "read_knowledge",
]
