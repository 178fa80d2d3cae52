"""Per-user versioned texts on Postgres: the same interface as ``versions.VersionedTexts``, one row
per version in ``personaagent_versions`` under the primary key (kind, user, version).

A write is one ``INSERT … ON CONFLICT DO NOTHING``: the database stores the row only if that
version number is free, and says whether it did (a row comes back or none does). Of any number of
writers of one version, in any number of processes, exactly one gets its row back; the others
stored nothing. No token, no read-back.
"""

from __future__ import annotations

import time
from typing import Any

from psycopg.types.json import Jsonb

from ...errors import UnknownVersion, VersionConflict
from ...ids import validate_user_id
from ..versions import RETRIES, Version, _from_row
from .database import Database

INSERT_AFTER = """
    INSERT INTO personaagent_versions (kind, user_id, version, text, metadata)
    VALUES (%(kind)s, %(user)s, %(number)s, %(text)s, %(meta)s)
    ON CONFLICT DO NOTHING RETURNING version"""
INSERT_ON_TOP = """
    INSERT INTO personaagent_versions (kind, user_id, version, text, metadata)
    SELECT %(kind)s, %(user)s, v, %(text)s, %(meta)s || jsonb_build_object('version', v)
    FROM (SELECT coalesce(max(version), 0) + 1 AS v FROM personaagent_versions
          WHERE kind = %(kind)s AND user_id = %(user)s) AS next
    ON CONFLICT DO NOTHING RETURNING version"""


class PostgresVersions:
    def __init__(self, db: Database, kind: str):
        self.db = db
        self.kind = kind

    def history(self, user_id: str) -> list[Version]:
        return self._select(user_id, "ORDER BY version")

    def latest(self, user_id: str) -> Version | None:
        found = self._select(user_id, "ORDER BY version DESC LIMIT 1")
        return found[0] if found else None

    def get(self, user_id: str, version: int) -> Version:
        found = self._select(user_id, "AND version = %(version)s", version=int(version))
        if not found:
            known = [v.version for v in self.history(user_id)]
            raise UnknownVersion(f"{self.kind} version {version} does not exist for user {user_id!r} (known: {known})")
        return found[0]

    def save(
        self,
        user_id: str,
        text: str,
        source: str,
        parent: int | None = None,
        loss: float | None = None,
        critique: str | None = None,
        after: int | None = None,
        **extra: Any,
    ) -> Version:
        """Append a new version (never overwrites). Empty text is refused.

        ``after``: the version this one must directly follow (0: the first). If another writer
        stored that number first, nothing is stored and ``VersionConflict`` is raised. Without it,
        the version goes on top of whatever is latest (the number is chosen inside the insert),
        trying again if another writer took that number first."""
        validate_user_id(user_id)
        if not text or not text.strip():
            raise ValueError(f"refusing to store an empty {self.kind} for user {user_id!r}")
        meta: dict[str, Any] = {"user_id": user_id, "created_at": time.time(), "source": source, **extra}
        for key, value in (("parent", parent), ("loss", loss), ("critique", critique)):
            if value is not None:
                meta[key] = value
        params = {"kind": self.kind, "user": user_id, "text": text}
        for _ in range(1 if after is not None else RETRIES):
            if after is not None:
                meta["version"] = after + 1
                statement, params["number"] = INSERT_AFTER, after + 1
            else:
                statement = INSERT_ON_TOP
            params["meta"] = Jsonb(meta)
            with self.db.connection() as conn:
                stored = conn.execute(statement, params).fetchone()
            if stored is not None:
                return _from_row(text, {**meta, "version": stored["version"]})
        raise VersionConflict(f"{self.kind} version {meta.get('version', '?')} of {user_id!r} was stored by another "
                              "writer meanwhile; this one was not stored")

    def _select(self, user_id: str, tail: str, **params: Any) -> list[Version]:
        with self.db.connection() as conn:
            rows = conn.execute(
                f"SELECT text, metadata FROM personaagent_versions WHERE kind = %(kind)s AND user_id = %(user)s {tail}",
                {"kind": self.kind, "user": validate_user_id(user_id), **params}).fetchall()
        return [_from_row(r["text"], r["metadata"]) for r in rows]
