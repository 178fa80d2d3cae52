"""The Postgres backend assembled: one ``Database`` (pool + schema), the episodes and versions
tables, LangGraph's ``PostgresStore`` for knowledge and runs, ``PostgresSaver`` for checkpoints."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path

import psycopg
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.store.base import PutOp
from langgraph.store.postgres import PostgresStore

from ..embeddings import LangChainEmbeddings
from .database import Database
from .episodes import PostgresEpisodes
from .items import PostgresKnowledge, PostgresRunLog, all_items, namespace
from .rows import PostgresRows
from .versions import PostgresVersions


def store_index(embedder, dims: int) -> dict:
    """``PostgresStore``'s index: our embedder on the item's ``text``; no ANN index ("flat"),
    since its searches are exact scans of one namespace's vectors, which no index serves."""
    return {"dims": dims, "embed": LangChainEmbeddings(embedder), "fields": ["text"], "ann_index_config": {"kind": "flat"}}


def embedder_name(embedder) -> str:
    name = getattr(embedder, "name", None)
    return name() if callable(name) else type(embedder).__qualname__


class PostgresBackend:
    name = "postgres"

    def __init__(self, db: Database, embedder):
        self.db = db
        self.embedder = embedder
        self.store = PostgresStore(db.pool, index=store_index(embedder, db.dims))
        self.episodes = PostgresEpisodes(db, embedder)
        self.profiles = PostgresVersions(db, "profile")
        self.personas = PostgresVersions(db, "persona")
        self.knowledge = PostgresKnowledge(self.store)
        self.runs = PostgresRunLog(self.store)
        self.rows = PostgresRows(db, self.store, embedder)

    @classmethod
    def open(cls, url: str, embedder) -> "PostgresBackend":
        def setup_langgraph(conn: psycopg.Connection, dims: int) -> None:
            PostgresStore(conn, index=store_index(embedder, dims)).setup()
            PostgresSaver(conn).setup()

        db = Database.open(url, embedder_name(embedder), lambda: len(embedder(["dimension probe"])[0]),
                           setup_langgraph)
        return cls(db, embedder)

    def forget_user(self, user_id: str) -> None:
        """Delete the user's episodes and versions in one transaction, then their knowledge items
        and runs from the LangGraph store (a second call finishes an interrupted one)."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM personaagent_episodes WHERE user_id = %s", (user_id,))
            conn.execute("DELETE FROM personaagent_versions WHERE user_id = %s", (user_id,))
        for collection in (PostgresKnowledge.collection, PostgresRunLog.collection):
            ns = namespace(collection, user_id)
            self.store.batch([PutOp(ns, item.key, None) for item in all_items(self.store, ns)])

    def warm_cache(self) -> Future:
        """Nothing to warm: searches read the database, whose own cache is shared by all processes."""
        done: Future = Future()
        done.set_result(0)
        return done

    @contextmanager
    def checkpointer(self, sqlite_file: Path | None) -> Iterator[PostgresSaver]:
        """LangGraph's ``PostgresSaver`` on this database (``sqlite_file`` is not used)."""
        yield PostgresSaver(self.db.pool)

    def close(self) -> None:
        self.db.close()
