"""The PostgreSQL backend: episodes in a pgvector table, profile and persona versions under a
unique key, knowledge and the optimizer run log in LangGraph's ``PostgresStore``, checkpoints in
LangGraph's ``PostgresSaver``, all in one database that any number of processes share.

psycopg and LangGraph's Postgres packages (the ``postgres`` extra) are imported only when a
``postgresql://`` store is opened, so the Chroma default needs none of them.
"""

from __future__ import annotations

from ...errors import PersonaAgentError
from .urls import is_postgres_url, redacted

__all__ = ["is_postgres_url", "open_backend", "redacted"]


def open_backend(url: str, embedder):
    """The Postgres backend on the database at ``url`` (tables created on first use)."""
    is_postgres_url(url, strict=True)
    try:
        from .backend import PostgresBackend
    except ImportError as exc:
        raise PersonaAgentError(f"the Postgres backend needs the 'postgres' extra ({exc}); "
                                "install it with: pip install 'personaagent[postgres]'") from exc
    return PostgresBackend.open(url, embedder)
