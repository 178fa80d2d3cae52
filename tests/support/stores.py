"""Opening a test store from one string, in helper processes: a postgresql:// URL, a Chroma
server's HOST:PORT, or a Chroma directory."""

from personaagent.memory import MemoryStore
from personaagent.testing import HashEmbeddingFunction


def open_store(where: str) -> MemoryStore:
    if where.startswith("postgresql://"):
        return MemoryStore.open(url=where, embedder=HashEmbeddingFunction())
    host, _, port = where.partition(":") if not where.startswith("/") else ("", "", "")
    if host:
        return MemoryStore.open(host=host, port=int(port), embedder=HashEmbeddingFunction())
    return MemoryStore.open(where, embedder=HashEmbeddingFunction())
