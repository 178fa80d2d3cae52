"""The tables PersonaAgent keeps in its database, created once per database by whichever process
opens it first (others wait on an advisory lock), and the record of which embedder fills them.

Two tables are our own SQL, because LangGraph's ``PostgresStore`` does not fit them:
- ``personaagent_episodes``: a user's search must read that user's rows only, and ``before``
  needs a numeric range (the store orders by similarity over all users' vectors, then filters;
  it compares ``$lt`` as text; it has no count), and an ingest must be one transaction.
- ``personaagent_versions``: a versioned write must store a version only if that number is free,
  decided by the database; the store's ``put`` overwrites.
Knowledge and the optimizer run log are in the store (``items.py``); checkpoints are LangGraph's.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Callable

import psycopg
from psycopg.types.json import Jsonb

from ...errors import PersonaAgentError

SCHEMA_VERSION = 1
LOCK_KEY = 0x7065_7273_6F6E_61  # "persona": the advisory lock every process takes to create the schema
LOCK_POLL_SECONDS = 0.05


def tables(dims: int) -> list[str]:
    return [
        "CREATE EXTENSION IF NOT EXISTS vector",
        "CREATE TABLE IF NOT EXISTS personaagent_meta (key text PRIMARY KEY, value jsonb NOT NULL)",
        f"""CREATE TABLE IF NOT EXISTS personaagent_episodes (
            user_id text NOT NULL,
            id text NOT NULL,
            ts double precision NOT NULL CHECK (ts > '-Infinity' AND ts < 'Infinity'),
            labelled boolean NOT NULL,
            query text NOT NULL,
            metadata jsonb NOT NULL CHECK (metadata->>'user_id' = user_id),
            embedding vector({int(dims)}) NOT NULL,
            PRIMARY KEY (user_id, id))""",
        "CREATE INDEX IF NOT EXISTS personaagent_episodes_user_time ON personaagent_episodes (user_id, ts)",
        """CREATE INDEX IF NOT EXISTS personaagent_episodes_embedding
            ON personaagent_episodes USING hnsw (embedding vector_cosine_ops)""",
        """CREATE TABLE IF NOT EXISTS personaagent_versions (
            kind text NOT NULL CHECK (kind IN ('profile', 'persona')),
            user_id text NOT NULL,
            version integer NOT NULL CHECK (version > 0),
            text text NOT NULL CHECK (btrim(text) <> ''),
            metadata jsonb NOT NULL,
            PRIMARY KEY (kind, user_id, version))""",
    ]


def read_meta(conn: psycopg.Connection) -> dict[str, Any] | None:
    """What the database records about its schema and embedder; None before the first open.
    (``conn`` returns dict rows.)"""
    try:
        rows = conn.execute("SELECT key, value FROM personaagent_meta").fetchall()
    except psycopg.errors.UndefinedTable:
        return None
    meta = {row["key"]: row["value"] for row in rows}
    return meta if meta.get("schema") == SCHEMA_VERSION else None


@contextmanager
def schema_lock(conn: psycopg.Connection):
    """Hold the schema advisory lock for the block. It is polled with short statements, not
    waited for in one: a process blocked inside a statement would hold a snapshot that
    ``CREATE INDEX CONCURRENTLY`` (run by LangGraph's setup in the lock holder) waits for."""
    while not conn.execute("SELECT pg_try_advisory_lock(%s) AS locked", (LOCK_KEY,)).fetchone()["locked"]:
        time.sleep(LOCK_POLL_SECONDS)
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


def ensure(conn: psycopg.Connection, embedder_name: str, probe_dims: Callable[[], int],
           setup_langgraph: Callable[[int], None]) -> int:
    """Create the schema unless it exists; returns the vectors' dimensions. Refuses an embedder
    other than the one whose vectors the database holds (their similarities would mean nothing)."""
    meta = read_meta(conn)
    if meta is None:
        with schema_lock(conn):
            meta = read_meta(conn)
            if meta is None:
                meta = {"schema": SCHEMA_VERSION, "dims": probe_dims(), "embedder": embedder_name}
                try:
                    for statement in tables(meta["dims"]):
                        conn.execute(statement)
                except psycopg.errors.InsufficientPrivilege as exc:
                    raise PersonaAgentError(
                        f"cannot create PersonaAgent's tables or the pgvector extension ({exc}); "
                        "a database owner must run: CREATE EXTENSION vector") from exc
                setup_langgraph(meta["dims"])
                with conn.transaction():
                    for key, value in meta.items():
                        conn.execute("INSERT INTO personaagent_meta VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                                     (key, Jsonb(value)))
    if meta["embedder"] != embedder_name:
        raise PersonaAgentError(
            f"this database holds vectors of the embedder {meta['embedder']!r} ({meta['dims']} dimensions); "
            f"the configured embedder is {embedder_name!r}: configure the same embedder, or migrate "
            "into a new database")
    return int(meta["dims"])
