"""Knowledge and the optimizer run log in LangGraph's ``PostgresStore``: the same interfaces as
``knowledge.KnowledgeBase`` and ``runs.RunLog``. Each user's items sit in a namespace of their own,
``(collection, user label)`` (``rows.user_label``); the value keeps the row's document and its
metadata as the Chroma backend stores them.

The store fits these: items addressed by a key within a user's namespace, written whole, and (for
knowledge) searched by meaning within that one namespace. It embeds the knowledge items itself
(field ``text``). Its semantic search is an exact scan of the namespace's vectors (see
``backend.store_index``), so it never returns fewer of the user's items than asked for.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from langgraph.store.base import PutOp
from langgraph.store.postgres import PostgresStore

from ...ids import validate_user_id
from ..knowledge import KnowledgeItem
from ..rows import user_label

EVERY_ITEM = 1_000_000  # a search limit that no user's namespace reaches


def namespace(collection: str, user_id: str) -> tuple[str, str]:
    return collection, user_label(validate_user_id(user_id))


def all_items(store: PostgresStore, ns: tuple[str, ...], **filters: Any) -> list:
    return store.search(ns, filter=filters or None, limit=EVERY_ITEM)


class PostgresKnowledge:
    collection = "knowledge"

    def __init__(self, store: PostgresStore):
        self.store = store

    def add(self, user_id: str, items: list[KnowledgeItem]) -> int:
        ns = namespace(self.collection, user_id)
        self.store.batch([PutOp(ns, item.id, {
            "text": f"{item.title}: {item.text}" if item.title else item.text,
            "metadata": {"user_id": user_id, "item_id": item.id, "title": item.title,
                         "meta": json.dumps(item.metadata, ensure_ascii=False)},
        }) for item in items])
        return len(items)

    def search(self, user_id: str, query: str, k: int = 4) -> list[KnowledgeItem]:
        found = self.store.search(namespace(self.collection, user_id), query=query, limit=k)
        return [KnowledgeItem(id=f.value["metadata"]["item_id"], text=f.value["text"],
                              title=f.value["metadata"].get("title", ""),
                              metadata=json.loads(f.value["metadata"].get("meta") or "{}"), score=f.score)
                for f in found]

    def count(self, user_id: str) -> int:
        return len(all_items(self.store, namespace(self.collection, user_id)))


class PostgresRunLog:
    collection = "optimizer_runs"

    def __init__(self, store: PostgresStore):
        self.store = store

    def start(self, user_id: str, trigger: str) -> str:
        run_id = uuid.uuid4().hex
        self._put(run_id, {"user_id": validate_user_id(user_id), "started_at": time.time(), "status": "running",
                           "trigger": trigger})
        return run_id

    def finish(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None:
        found = all_items(self.store, (self.collection,), run_id=run_id)
        if not found:
            raise KeyError(f"no optimization run {run_id!r}")
        self._put(run_id, {**found[0].value["metadata"], "status": status, "finished_at": time.time(),
                           "summary": json.dumps(summary or {}, default=str)})

    def history(self, user_id: str) -> list[dict[str, Any]]:
        runs = [{"run_id": f.key, **f.value["metadata"], "summary": json.loads(f.value["metadata"].get("summary") or "{}")}
                for f in all_items(self.store, namespace(self.collection, user_id))]
        return sorted(runs, key=lambda r: r["started_at"])

    def last_started(self, user_id: str) -> float | None:
        runs = self.history(user_id)
        return runs[-1]["started_at"] if runs else None

    def _put(self, run_id: str, metadata: dict[str, Any]) -> None:
        self.store.put(namespace(self.collection, metadata["user_id"]), run_id,
                       {"run_id": run_id, "text": f"optimization run for {metadata['user_id']}", "metadata": metadata},
                       index=False)
