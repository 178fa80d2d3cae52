"""One database for a process: a psycopg connection pool shared by PersonaAgent's tables,
LangGraph's ``PostgresStore`` and ``PostgresSaver`` (both need autocommit connections that
return dict rows), with pgvector's types registered and iterative HNSW scans on."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import psycopg
from pgvector.psycopg import register_vector
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from ...errors import StoreUnavailable
from . import schema
from .urls import redacted

CONNECT_TIMEOUT_S = 10
POOL_MAX = 16  # per process; a process's threads beyond it wait for a connection
CONNECTION = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}


def _configure(conn: psycopg.Connection) -> None:
    register_vector(conn)
    # A filtered HNSW scan goes on until it has found enough rows that pass the filter, instead of
    # stopping after ef_search candidates (pgvector 0.8); strict_order keeps the results in order.
    conn.execute("SET hnsw.iterative_scan = strict_order")


class Database:
    def __init__(self, url: str, pool: ConnectionPool, dims: int):
        self.url = url
        self.pool = pool
        self.dims = dims

    @classmethod
    def open(cls, url: str, embedder_name: str, probe_dims: Callable[[], int],
             setup_langgraph: Callable[[psycopg.Connection, int], None]) -> "Database":
        """Connect, create the schema on first use (``schema.ensure``), then open the pool."""
        try:
            with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, **CONNECTION) as conn:
                dims = schema.ensure(conn, embedder_name, probe_dims, lambda d: setup_langgraph(conn, d))
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"cannot reach the Postgres server at {redacted(url)}; is it running? "
                                   f"({str(exc).strip()})") from exc
        pool = ConnectionPool(url, kwargs={**CONNECTION, "connect_timeout": CONNECT_TIMEOUT_S}, min_size=1,
                              max_size=POOL_MAX, configure=_configure, open=True, name="personaagent")
        return cls(url, pool, dims)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        with self.pool.connection() as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A connection inside one transaction: committed at the end of the block, rolled back if
        it raises."""
        with self.pool.connection() as conn, conn.transaction():
            yield conn

    def close(self) -> None:
        self.pool.close()
