"""A per-user knowledge collection (an item catalogue, notes, …) filled from CSV or JSONL."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..ids import validate_user_id
from .episodic import user_filter


@dataclass
class KnowledgeItem:
    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    score: float | None = None


class KnowledgeBase:
    def __init__(self, collection):
        self.collection = collection

    def add(self, user_id: str, items: list[KnowledgeItem]) -> int:
        validate_user_id(user_id)
        if not items:
            return 0
        self.collection.upsert(
            ids=[f"{user_id}:{item.id}" for item in items],
            documents=[f"{item.title}: {item.text}" if item.title else item.text for item in items],
            metadatas=[
                {"user_id": user_id, "item_id": item.id, "title": item.title,
                 "meta": json.dumps(item.metadata, ensure_ascii=False)}
                for item in items
            ],
        )
        return len(items)

    def search(self, user_id: str, query: str, k: int = 4) -> list[KnowledgeItem]:
        result = self.collection.query(query_texts=[query], n_results=k, where=user_filter(user_id))
        return [
            KnowledgeItem(id=m["item_id"], text=d, title=m.get("title", ""),
                          metadata=json.loads(m.get("meta") or "{}"), score=1.0 - dist)
            for d, m, dist in zip(result["documents"][0], result["metadatas"][0], result["distances"][0])
        ]

    def count(self, user_id: str) -> int:
        return len(self.collection.get(where=user_filter(user_id), include=[])["ids"])
