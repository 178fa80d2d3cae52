"""Episodic memory: every interaction of a user, searchable by meaning and filterable by time.

In a large collection, searches scan the user's vectors exactly in process memory (``vector_cache``),
which every write here keeps coherent; otherwise they are filtered queries on Chroma's index.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import uuid
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .. import recency
from ..ids import validate_user_id
from .vector_cache import VectorCache

MAX_QUERY_CHARS = 8000
EARLY_PAGE_ROWS = 5000  # rows per read when ``early_means`` pages through every user's episodes
RECENCY_POOL = 10  # with a recency half-life, a search re-ranks the k × this most similar episodes
log = logging.getLogger(__name__)


@dataclass
class Interaction:
    """One exchange: what the user asked, what the agent answered, what the user really wanted."""

    user_id: str
    query: str
    answer: str = ""
    ground_truth: str | None = None
    feedback: str | None = None
    timestamp: float = field(default_factory=time.time)
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = "agent"  # agent | ingest
    options: list[str] | None = None  # the answer options the request stated (a closed-form choice)
    scale: dict[str, float] | None = None  # the rating scale it stated: {low, high, step}
    id: str = ""
    score: float | None = None  # similarity to the query, when it came from a search

    @property
    def labelled(self) -> bool:
        return self.ground_truth is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EarlyMean:
    """A user's first interactions as one vector (the mean embedding of their ``first`` oldest
    episodes), with how many labelled interactions they have in all. No text: only what finding
    similar users needs (``neighbours``)."""

    user_id: str
    labelled: int
    vector: np.ndarray


def stable_id(user_id: str, timestamp: float, query: str) -> str:
    """Same user, time and query → same id, so re-ingesting a file does not duplicate it."""
    return hashlib.sha256(f"{user_id}\x00{timestamp!r}\x00{query}".encode()).hexdigest()[:32]


def _to_metadata(item: Interaction) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "user_id": item.user_id,
        "timestamp": float(item.timestamp),
        "answer": item.answer,
        "labelled": item.labelled,
        "source": item.source,
        "meta": json.dumps(item.metadata, ensure_ascii=False),
    }
    if item.ground_truth is not None:
        meta["ground_truth"] = item.ground_truth
    if item.feedback is not None:
        meta["feedback"] = item.feedback
    if item.options:
        meta["options"] = json.dumps(item.options, ensure_ascii=False)
    if item.scale:
        meta["scale"] = json.dumps(item.scale)
    return meta


def _from_row(id_: str, document: str, meta: dict[str, Any], distance: float | None = None) -> Interaction | None:
    """The interaction a row holds, or None (logged) for a row that lacks a field every row must
    have, so one damaged row cannot break every read of its user."""
    timestamp = meta.get("timestamp")
    if not meta.get("user_id") or not isinstance(timestamp, (int, float)) or not math.isfinite(timestamp):
        log.warning("skipping episode row %s: it lacks a user id or a finite timestamp (%r)", id_, meta)
        return None
    return Interaction(
        id=id_,
        user_id=meta["user_id"],
        query=document,
        answer=meta.get("answer", ""),
        ground_truth=meta.get("ground_truth"),
        feedback=meta.get("feedback"),
        timestamp=float(timestamp),
        metadata=json.loads(meta.get("meta") or "{}"),
        source=meta.get("source", "agent"),
        options=json.loads(meta["options"]) if meta.get("options") else None,
        scale=json.loads(meta["scale"]) if meta.get("scale") else None,
        score=None if distance is None else 1.0 - distance,
    )


def user_filter(user_id: str, before: float | None = None, labelled: bool | None = None) -> dict:
    """A Chroma ``where`` for one user's rows; extra conditions joined with an explicit ``$and``."""
    clauses: list[dict] = [{"user_id": validate_user_id(user_id)}]
    if before is not None:
        clauses.append({"timestamp": {"$lt": float(before)}})
    if labelled is not None:
        clauses.append({"labelled": labelled})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def pool_size(k: int, half_life_days: float) -> int:
    """How many of the most similar episodes a search reads: ``k``, or with a recency half-life
    ``k × RECENCY_POOL`` for ``recent_first`` to re-rank."""
    return k * RECENCY_POOL if recency.validated(half_life_days) else k


def recent_first(found: list[Interaction], k: int, half_life_days: float) -> list[Interaction]:
    """The best ``k`` of ``found`` (most similar first) by similarity × recency weight
    (``recency.ranked``); with the half-life 0, the first ``k`` as found."""
    if not recency.validated(half_life_days):
        return found[:k]
    order = recency.ranked([i.score or 0.0 for i in found], [i.timestamp for i in found], half_life_days)
    return [found[i] for i in order[:k]]


class EpisodicMemory:
    """``collection`` holds the interactions; ``vectors`` (a ``VectorCache`` over it) serves searches.

    Without ``vectors`` every search is a filtered Chroma query. Writes that bypass this class
    (straight to the collection) must call ``vectors.bump(user_ids)`` afterwards.
    """

    def __init__(self, collection, vectors: VectorCache | None = None, embedder=None):
        if vectors is not None and embedder is None:
            raise ValueError("EpisodicMemory: searching cached vectors needs the collection's embedder")
        self.collection = collection
        self.vectors = vectors
        self.embedder = embedder

    def _changing(self, user_ids):
        return self.vectors.changing(user_ids) if self.vectors is not None else nullcontext()

    def add(self, items: list[Interaction], on_batch=None, batch_size: int = 500) -> list[str]:
        """Store interactions all-or-nothing: if a batch fails, rows this call created are removed.

        Ids already stored (a re-ingested line has the same stable id) are overwritten in place.
        ``on_batch(n)`` is called after each batch of ``n`` rows (for progress bars).
        """
        for item in items:
            validate_user_id(item.user_id)
            item.id = item.id or uuid.uuid4().hex
        existing = set(self.collection.get(ids=[i.id for i in items], include=[])["ids"]) if items else set()
        written: list[str] = []
        with self._changing(i.user_id for i in items):
            try:
                for start in range(0, len(items), batch_size):
                    batch = items[start : start + batch_size]
                    ids = [i.id for i in batch]
                    self.collection.upsert(
                        ids=ids, documents=[i.query for i in batch], metadatas=[_to_metadata(i) for i in batch]
                    )
                    written.extend(i for i in ids if i not in existing)
                    if on_batch:
                        on_batch(len(batch))
            except Exception:
                if written:
                    if self.vectors is not None:
                        self.vectors.deleting()
                    self.collection.delete(ids=written)
                raise
        return [i.id for i in items]

    def search(self, user_id: str, query: str, k: int = 4, before: float | None = None,
               half_life_days: float = 0.0) -> list[Interaction]:
        """The ``k`` interactions of ``user_id`` closest to ``query``, only those older than ``before``;
        with a recency half-life (days; 0: off), ranked by similarity × recency weight (``recent_first``)."""
        if k <= 0:
            return []
        n = pool_size(k, half_life_days)
        rows = self.vectors.rows(user_id) if self.vectors is not None else None
        if rows is not None:
            query_vector = np.asarray(self.embedder([query])[0], dtype=np.float32)
            found = [_from_row(rows.ids[i], rows.documents[i], rows.metadatas[i], distance)
                     for i, distance in rows.top_k(query_vector, n, before)]
        else:
            result = self.collection.query(query_texts=[query], n_results=n, where=user_filter(user_id, before))
            found = [_from_row(i, d, m, dist) for i, d, m, dist in zip(
                result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0])]
        return recent_first([item for item in found if item is not None], k, half_life_days)

    def list(
        self, user_id: str, before: float | None = None, labelled: bool | None = None
    ) -> list[Interaction]:
        """All matching interactions of ``user_id``, oldest first."""
        rows = self.collection.get(where=user_filter(user_id, before, labelled))
        items = [_from_row(i, d, m) for i, d, m in zip(rows["ids"], rows["documents"], rows["metadatas"])]
        return sorted((it for it in items if it is not None), key=lambda it: (it.timestamp, it.id))

    def count(self, user_id: str) -> int:
        return len(self.collection.get(where=user_filter(user_id), include=[])["ids"])

    def early_means(self, first: int) -> list[EarlyMean]:
        """Every user's ``EarlyMean`` over their ``first`` oldest episodes (by time, then id), in
        user order. A read across users, for ``neighbours`` only: it returns vectors and counts,
        never a row's text. One pass over the whole collection, ``EARLY_PAGE_ROWS`` at a time."""
        if first <= 0:
            raise ValueError(f"early_means needs first >= 1 (got {first})")
        earliest: dict[str, list[tuple[float, str, np.ndarray]]] = {}
        labelled: dict[str, int] = {}
        for offset in range(0, self.collection.count(), EARLY_PAGE_ROWS):
            page = self.collection.get(include=["embeddings", "metadatas"], limit=EARLY_PAGE_ROWS, offset=offset)
            for id_, meta, vector in zip(page["ids"], page["metadatas"], page["embeddings"]):
                user, timestamp = meta.get("user_id"), meta.get("timestamp")
                if not user or not isinstance(timestamp, (int, float)):
                    continue
                labelled[user] = labelled.get(user, 0) + bool(meta.get("labelled"))
                rows = earliest.setdefault(user, [])
                rows.append((float(timestamp), id_, np.asarray(vector, dtype=np.float32)))
                if len(rows) > 2 * first:  # keep the memory per user bounded while paging
                    rows.sort(key=lambda r: r[:2])
                    del rows[first:]
        means = []
        for user, rows in sorted(earliest.items()):
            rows.sort(key=lambda r: r[:2])
            means.append(EarlyMean(user, labelled[user], np.mean([r[2] for r in rows[:first]], axis=0)))
        return means

    def get(self, user_id: str, interaction_id: str) -> Interaction | None:
        rows = self.collection.get(ids=[interaction_id], where=user_filter(user_id))
        return _from_row(rows["ids"][0], rows["documents"][0], rows["metadatas"][0]) if rows["ids"] else None

    def set_outcome(
        self, user_id: str, interaction_id: str, ground_truth: str | None = None, feedback: str | None = None
    ) -> Interaction:
        """Attach the right answer and/or feedback to one of the user's stored interactions."""
        item = self.get(user_id, interaction_id)
        if item is None:
            raise KeyError(f"user {user_id!r} has no interaction {interaction_id!r}")
        if ground_truth is not None:
            item.ground_truth = ground_truth
        if feedback is not None:
            item.feedback = feedback
        with self._changing([user_id]):
            self.collection.update(ids=[item.id], metadatas=[_to_metadata(item)])
        return item
