"""The Chroma backend (the default): six collections, every row tagged with its user, in a
persistent directory or on a Chroma server. Chat threads and optimizer checkpoints go to SQLite
files beside it (the caller names them), since Chroma keeps no checkpoints."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path

import chromadb
from chromadb.api.types import EmbeddingFunction
from chromadb.config import Settings

from ..errors import StoreUnavailable
from ..ids import validate_user_id
from .episodic import EpisodicMemory
from .knowledge import KnowledgeBase
from .rows import COLLECTIONS, VECTORS_COPIED, Row
from .runs import RunLog
from .vector_cache import REVISIONS_COLLECTION, VectorCache
from .versions import VersionedTexts

_STRIPPED = {"profiles": {"claim"}, "personas": {"claim"}}  # write-time bookkeeping, not content


class ChromaBackend:
    name = "chroma"

    def __init__(self, client, embedder: EmbeddingFunction, cache_rows: int, cache_from_rows: int):
        self.client = client
        self.embedder = embedder
        self.collections = {
            name: client.get_or_create_collection(
                name, embedding_function=embedder, configuration={"hnsw": {"space": "cosine"}}
            )
            for name in COLLECTIONS
        }
        revisions = client.get_or_create_collection(REVISIONS_COLLECTION, embedding_function=None)
        vectors = VectorCache(self.collections["episodes"], revisions, cache_rows, min_collection_rows=cache_from_rows)
        self.episodes = EpisodicMemory(self.collections["episodes"], vectors, embedder)
        self.profiles = VersionedTexts(self.collections["profiles"], "profile")
        self.personas = VersionedTexts(self.collections["personas"], "persona")
        self.knowledge = KnowledgeBase(self.collections["knowledge"])
        self.runs = RunLog(self.collections["optimizer_runs"])
        self.rows = ChromaRows(self.collections, vectors)

    @classmethod
    def open(cls, path: str | Path | None, host: str, port: int, embedder: EmbeddingFunction, cache_rows: int,
             cache_from_rows: int) -> "ChromaBackend":
        settings = Settings(anonymized_telemetry=False)
        if host:
            try:
                client = chromadb.HttpClient(host=host, port=port, settings=settings)
            except Exception as exc:  # chromadb reports a refused connection as ValueError
                raise StoreUnavailable(f"cannot reach the Chroma server at {host}:{port}; is it running? ({exc})") from exc
            return cls(client, embedder, cache_rows, cache_from_rows)
        if path is None:
            raise ValueError("MemoryStore.open needs a path, a Chroma server host or a postgresql:// URL")
        Path(path).mkdir(parents=True, exist_ok=True)
        # Processes opening a new directory at once would race chromadb's schema creation
        # ("table collections already exists"): one at a time creates the client and collections.
        with open(Path(path) / ".personaagent-open.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return cls(chromadb.PersistentClient(path=str(path), settings=settings), embedder, cache_rows,
                       cache_from_rows)

    def forget_user(self, user_id: str) -> None:
        where = {"user_id": validate_user_id(user_id)}
        self.episodes.vectors.deleting()
        for collection in (*self.collections.values(), self.episodes.vectors.revisions):
            collection.delete(where=where)

    def warm_cache(self) -> Future:
        return self.episodes.vectors.start_warming()

    @contextmanager
    def checkpointer(self, sqlite_file: Path | None) -> Iterator:
        """SQLite at ``sqlite_file``; in this process's memory without one."""
        if sqlite_file is None:
            from langgraph.checkpoint.memory import InMemorySaver

            yield InMemorySaver()
            return
        from langgraph.checkpoint.sqlite import SqliteSaver

        Path(sqlite_file).parent.mkdir(parents=True, exist_ok=True)
        with SqliteSaver.from_conn_string(str(sqlite_file)) as saver:
            yield saver

    def close(self) -> None:
        """Nothing to release: chromadb keeps one client per directory for the process."""


class ChromaRows:
    """The Chroma backend's rows in the shape every backend shares (``rows.Row``), for migrations."""

    def __init__(self, collections: dict, vectors: VectorCache):
        self.collections = collections
        self.vectors = vectors

    def count(self, collection: str) -> int:
        return self.collections[collection].count()

    def pages(self, collection: str, size: int) -> Iterator[list[Row]]:
        """Every row, ``size`` at a time (by offset: the store must not change meanwhile)."""
        offset = 0
        while True:
            page = self._rows(collection, limit=size, offset=offset)
            if not page:
                return
            yield page
            offset += len(page)

    def fetch(self, collection: str, rows: list[Row]) -> dict[str, Row]:
        """The stored rows with the ids of ``rows``."""
        return {row.id: row for row in self._rows(collection, ids=[r.id for r in rows])} if rows else {}

    def write(self, collection: str, rows: list[Row]) -> None:
        """Store ``rows`` as they are (same ids: overwritten); documents without a copied vector
        are embedded. Episode writes bump the users' cache revisions, as ``EpisodicMemory`` does."""
        if not rows:
            return
        vectors = [row.embedding for row in rows] if collection in VECTORS_COPIED else None
        self.collections[collection].upsert(ids=[row.id for row in rows], documents=[row.document for row in rows],
                                            metadatas=[row.metadata for row in rows], embeddings=vectors)
        if collection == "episodes":
            self.vectors.bump({row.metadata["user_id"] for row in rows})

    def _rows(self, collection: str, **selection) -> list[Row]:
        include = ["documents", "metadatas"] + (["embeddings"] if collection in VECTORS_COPIED else [])
        got = self.collections[collection].get(include=include, **selection)
        vectors = got["embeddings"] if collection in VECTORS_COPIED else [None] * len(got["ids"])
        stripped = _STRIPPED.get(collection, set())
        return [Row(id_, document, {k: v for k, v in meta.items() if k not in stripped}, vector)
                for id_, document, meta, vector in zip(got["ids"], got["documents"], got["metadatas"], vectors)]
