"""Episodic memory on Postgres: the same interface as ``episodic.EpisodicMemory``, one row per
interaction in ``personaagent_episodes`` (see ``schema``), keyed by user and id.

A search is one query restricted to the user's rows (and to ``ts < before``); the planner reads
them through the ``(user_id, ts)`` index and sorts them by distance, or walks the HNSW index with
the user filter applied as it goes (pgvector's iterative scan) when the user has many rows. No
process-side cache: every process sees every committed write at once.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import numpy as np
from psycopg.types.json import Jsonb

from ...ids import validate_user_id
from ..episodic import EarlyMean, Interaction, _from_row, _to_metadata, pool_size, recent_first
from .database import Database

COLUMNS = "id, query, metadata"
UPSERT = """
    INSERT INTO personaagent_episodes (user_id, id, ts, labelled, query, metadata, embedding)
    VALUES (%s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (user_id, id) DO UPDATE SET ts = EXCLUDED.ts, labelled = EXCLUDED.labelled, query = EXCLUDED.query,
        metadata = EXCLUDED.metadata, embedding = EXCLUDED.embedding"""


def row_values(user_id: str, id_: str, document: str, meta: dict[str, Any], vector) -> tuple:
    """The column values of one row, from the metadata ``episodic._to_metadata`` makes."""
    return (user_id, id_, float(meta["timestamp"]), bool(meta["labelled"]), document, Jsonb(meta),
            np.asarray(vector, dtype=np.float32))


class PostgresEpisodes:
    def __init__(self, db: Database, embedder):
        self.db = db
        self.embedder = embedder

    def add(self, items: list[Interaction], on_batch=None, batch_size: int = 500) -> list[str]:
        """Store interactions in one transaction: all of them or, if anything fails, none (ids
        already stored are overwritten in place). ``on_batch(n)`` after each batch is embedded and
        sent."""
        for item in items:
            validate_user_id(item.user_id)
            item.id = item.id or uuid.uuid4().hex
        if not items:
            return []
        with self.db.transaction() as conn, conn.cursor() as cur:
            for start in range(0, len(items), batch_size):
                batch = items[start : start + batch_size]
                vectors = self.embedder([i.query for i in batch])
                cur.executemany(UPSERT, [row_values(i.user_id, i.id, i.query, _to_metadata(i), v)
                                         for i, v in zip(batch, vectors)])
                if on_batch:
                    on_batch(len(batch))
        return [i.id for i in items]

    def search(self, user_id: str, query: str, k: int = 4, before: float | None = None,
               half_life_days: float = 0.0) -> list[Interaction]:
        """The ``k`` interactions of ``user_id`` closest to ``query``, only those older than ``before``;
        with a recency half-life (days; 0: off), ranked by similarity × recency weight (``episodic.recent_first``)."""
        validate_user_id(user_id)
        if k <= 0:
            return []
        n = pool_size(k, half_life_days)
        vector = np.asarray(self.embedder([query])[0], dtype=np.float32)
        with self.db.connection() as conn:
            rows = conn.execute(
                f"""SELECT {COLUMNS}, embedding <=> %(q)s AS distance FROM personaagent_episodes
                    WHERE user_id = %(user)s AND ts < %(before)s ORDER BY embedding <=> %(q)s LIMIT %(k)s""",
                {"q": vector, "user": user_id, "before": _bound(before), "k": n}).fetchall()
        return recent_first([_from_row(r["id"], r["query"], r["metadata"], r["distance"]) for r in rows], k, half_life_days)

    def list(self, user_id: str, before: float | None = None, labelled: bool | None = None) -> list[Interaction]:
        """All matching interactions of ``user_id``, oldest first."""
        validate_user_id(user_id)
        with self.db.connection() as conn:
            rows = conn.execute(
                f"""SELECT {COLUMNS} FROM personaagent_episodes
                    WHERE user_id = %(user)s AND ts < %(before)s AND (%(labelled)s::boolean IS NULL OR labelled = %(labelled)s)
                    ORDER BY ts, id""",
                {"user": user_id, "before": _bound(before), "labelled": labelled}).fetchall()
        return [_from_row(r["id"], r["query"], r["metadata"]) for r in rows]

    def count(self, user_id: str) -> int:
        with self.db.connection() as conn:
            return conn.execute("SELECT count(*) AS n FROM personaagent_episodes WHERE user_id = %s",
                                (validate_user_id(user_id),)).fetchone()["n"]

    def early_means(self, first: int) -> list[EarlyMean]:
        """Every user's ``EarlyMean`` over their ``first`` oldest episodes (by time, then id), in
        user order. A read across users, for ``neighbours`` only: vectors and counts, never text.
        One query; pgvector averages the vectors."""
        if first <= 0:
            raise ValueError(f"early_means needs first >= 1 (got {first})")
        with self.db.connection() as conn:
            rows = conn.execute(
                """SELECT user_id, avg(embedding) FILTER (WHERE n <= %(first)s) AS vector,
                          count(*) FILTER (WHERE labelled) AS labelled
                   FROM (SELECT user_id, embedding, labelled,
                                row_number() OVER (PARTITION BY user_id ORDER BY ts, id) AS n
                         FROM personaagent_episodes) AS numbered
                   GROUP BY user_id ORDER BY user_id""", {"first": first}).fetchall()
        return [EarlyMean(r["user_id"], int(r["labelled"]), r["vector"].to_numpy().astype(np.float32)) for r in rows]

    def get(self, user_id: str, interaction_id: str) -> Interaction | None:
        with self.db.connection() as conn:
            row = conn.execute(f"SELECT {COLUMNS} FROM personaagent_episodes WHERE user_id = %s AND id = %s",
                               (validate_user_id(user_id), interaction_id)).fetchone()
        return _from_row(row["id"], row["query"], row["metadata"]) if row else None

    def set_outcome(
        self, user_id: str, interaction_id: str, ground_truth: str | None = None, feedback: str | None = None
    ) -> Interaction:
        """Attach the right answer and/or feedback to one of the user's stored interactions. One
        statement merges the given fields into the row, so two processes setting different fields
        of one interaction at once both keep theirs."""
        validate_user_id(user_id)
        patch: dict[str, Any] = {}
        if ground_truth is not None:
            patch.update(ground_truth=ground_truth, labelled=True)
        if feedback is not None:
            patch["feedback"] = feedback
        with self.db.connection() as conn:
            row = conn.execute(
                f"""UPDATE personaagent_episodes SET metadata = metadata || %(patch)s, labelled = labelled OR %(labelled)s
                    WHERE user_id = %(user)s AND id = %(id)s RETURNING {COLUMNS}""",
                {"patch": Jsonb(patch), "labelled": ground_truth is not None, "user": user_id,
                 "id": interaction_id}).fetchone()
        if row is None:
            raise KeyError(f"user {user_id!r} has no interaction {interaction_id!r}")
        return _from_row(row["id"], row["query"], row["metadata"])


def _bound(before: float | None) -> float:
    return math.inf if before is None else float(before)
