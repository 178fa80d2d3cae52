"""The Postgres backend's rows in the shape every backend shares (``memory.rows.Row``), for
migrations: count, page, fetch and write each collection, ids and metadata as Chroma keeps them."""

from __future__ import annotations

from collections.abc import Iterator

from langgraph.store.base import GetOp, PutOp
from langgraph.store.postgres import PostgresStore
from psycopg.types.json import Jsonb

from ..rows import Row
from .database import Database
from .episodes import UPSERT, row_values
from .items import all_items, namespace

VERSION_KINDS = {"profiles": "profile", "personas": "persona"}
STORE_COLLECTIONS = ("knowledge", "optimizer_runs")
NAMESPACE_PAGE = 1000
UPSERT_VERSION = """
    INSERT INTO personaagent_versions (kind, user_id, version, text, metadata) VALUES (%s, %s, %s, %s, %s)
    ON CONFLICT (kind, user_id, version) DO UPDATE SET text = EXCLUDED.text, metadata = EXCLUDED.metadata"""


class PostgresRows:
    def __init__(self, db: Database, store: PostgresStore, embedder):
        self.db = db
        self.store = store
        self.embedder = embedder

    def count(self, collection: str) -> int:
        if collection in STORE_COLLECTIONS:
            return sum(len(page) for page in self.pages(collection, NAMESPACE_PAGE))
        sql, params = (("SELECT count(*) AS n FROM personaagent_episodes", ()) if collection == "episodes" else
                       ("SELECT count(*) AS n FROM personaagent_versions WHERE kind = %s", (VERSION_KINDS[collection],)))
        with self.db.connection() as conn:
            return conn.execute(sql, params).fetchone()["n"]

    def pages(self, collection: str, size: int) -> Iterator[list[Row]]:
        """Every row, ``size`` at a time, in key order (LangGraph's store: one user at a time)."""
        if collection in STORE_COLLECTIONS:
            yield from self._store_pages(collection, size)
            return
        after: tuple = ("", "" if collection == "episodes" else 0)
        while True:
            page = self._select(collection, "WHERE (user_id, {key}) > (%s, %s) ORDER BY user_id, {key} LIMIT %s",
                                (*after, size))
            if not page:
                return
            yield [row for row, _ in page]
            after = page[-1][1]

    def fetch(self, collection: str, rows: list[Row]) -> dict[str, Row]:
        """The stored rows with the ids of ``rows`` (each found by its user and key)."""
        if not rows:
            return {}
        if collection in STORE_COLLECTIONS:
            keys = [(namespace(collection, r.metadata["user_id"]), _store_key(collection, r)) for r in rows]
            found = self.store.batch([GetOp(ns, key) for ns, key in keys])
            return {row.id: _store_row(collection, item) for row, item in zip(rows, found) if item is not None}
        users = [r.metadata["user_id"] for r in rows]
        keys = [r.id for r in rows] if collection == "episodes" else [int(r.metadata["version"]) for r in rows]
        kind = "text" if collection == "episodes" else "int"
        page = self._select(collection, f"WHERE (user_id, {{key}}) IN (SELECT * FROM unnest(%s::text[], %s::{kind}[]))",
                            (users, keys))
        return {row.id: row for row, _ in page}

    def write(self, collection: str, rows: list[Row]) -> None:
        """Store ``rows`` (same key: overwritten), in one transaction for our own tables."""
        if not rows:
            return
        if collection in STORE_COLLECTIONS:
            self.store.batch([PutOp(namespace(collection, r.metadata["user_id"]), _store_key(collection, r),
                                    _store_value(collection, r), index=None if collection == "knowledge" else False)
                              for r in rows])
            return
        with self.db.transaction() as conn, conn.cursor() as cur:
            if collection == "episodes":
                missing = [r.document for r in rows if r.embedding is None]
                computed = iter(self.embedder(missing) if missing else [])
                cur.executemany(UPSERT, [row_values(r.metadata["user_id"], r.id, r.document, r.metadata,
                                                    next(computed) if r.embedding is None else r.embedding)
                                         for r in rows])
            else:
                cur.executemany(UPSERT_VERSION, [(VERSION_KINDS[collection], r.metadata["user_id"],
                                                  int(r.metadata["version"]), r.document, Jsonb(r.metadata))
                                                 for r in rows])

    def _select(self, collection: str, where: str, params: tuple) -> list[tuple[Row, tuple]]:
        """Rows of one of our tables, each with its key (user, id or version)."""
        if collection == "episodes":
            sql = "SELECT user_id, id AS key, id, query AS document, metadata, embedding FROM personaagent_episodes "
            sql += where.format(key="id")
        else:
            sql = ("SELECT user_id, version AS key, user_id || ':v' || version AS id, text AS document, metadata, "
                   "NULL::vector AS embedding FROM personaagent_versions WHERE kind = %s AND ")
            sql += where.removeprefix("WHERE ").format(key="version")
            params = (VERSION_KINDS[collection], *params)
        with self.db.connection() as conn:
            found = conn.execute(sql, params).fetchall()
        return [(Row(r["id"], r["document"], r["metadata"],
                     None if r["embedding"] is None else r["embedding"].to_numpy()),
                 (r["user_id"], r["key"])) for r in found]

    def _store_pages(self, collection: str, size: int) -> Iterator[list[Row]]:
        offset = 0
        while True:
            spaces = self.store.list_namespaces(prefix=(collection,), limit=NAMESPACE_PAGE, offset=offset)
            for ns in spaces:
                items = all_items(self.store, ns)
                for start in range(0, len(items), size):
                    yield [_store_row(collection, item) for item in items[start:start + size]]
            if len(spaces) < NAMESPACE_PAGE:
                return
            offset += len(spaces)


def _store_key(collection: str, row: Row) -> str:
    return row.metadata["item_id"] if collection == "knowledge" else row.id


def _store_value(collection: str, row: Row) -> dict:
    value = {"text": row.document, "metadata": row.metadata}
    return value if collection == "knowledge" else {"run_id": row.id, **value}


def _store_row(collection: str, item) -> Row:
    meta = item.value["metadata"]
    row_id = f"{meta['user_id']}:{item.key}" if collection == "knowledge" else item.key
    return Row(row_id, item.value["text"], meta)
