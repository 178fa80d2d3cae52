"""A user's episode vectors held in process memory, searched exactly, kept coherent through Chroma.

Why: Chroma's local executor spends time in proportion to the whole collection on every filtered
operation, however few rows the user has (``benchmarks/chroma_filter_scaling.py``: over 100k rows
a user's filtered top-4 takes about 85 ms, reading that user's 100 rows about 13 ms). An agent
reads one user's memories over and over (every turn, every simulated answer of an optimization),
so in a large collection the recently searched users' vectors are kept here as a normalised matrix
and scanned exactly, which is also exact where HNSW is approximate. Below ``min_collection_rows``
rows (checked at most once a minute) Chroma's filtered query is cheap and nothing is cached.

Coherence across threads and processes: each user has a revision row in the small
``episode_revisions`` collection. Every write to a user's episodes stores a new random revision
after it writes, even when it fails; every search reads the revision (one lookup by id, cheap at
any size) and reloads the user's rows when it differs from the one the cached rows were loaded
under. The revision is read *before* the rows, so rows loaded during a concurrent write are at
worst newer than their revision, and the write's revision makes the next search reload them. A
writer killed between its rows and its revision leaves processes that had the user cached without
those rows until the user's next write.

A write makes the writing process's copy stale too; when that user was cached here, a background
thread reloads the rows right after the write, so the user's next search (the agent's next turn)
usually finds them loaded. That reload is an ordinary revision-checked load, so it is never wrong,
only sometimes too late.

A serving process can ``warm`` the cache: one pass over the collection loads every user, so that
users' first searches find their rows here too. That pass pages through the collection by offset,
and a delete shifts the pages (rows after the deleted ones could be skipped), so every delete of
episodes first leaves a marker row, and a pass that sees a recent marker installs nothing.

Memory is bounded by ``max_rows`` cached rows in all (least recently searched users are dropped).
A user with more than ``max_user_rows`` rows is not cached; their searches go to Chroma's index.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ids import validate_user_id

REVISIONS_COLLECTION = "episode_revisions"
_REVISION_VECTOR = [1.0]  # Chroma needs a vector per row; revision rows are only read by id

DEFAULT_MAX_ROWS = 100_000  # ≈ 150 MiB of 384-dimensional float32 vectors, plus their texts
DEFAULT_MAX_USER_ROWS = 20_000

MAX_ENTRIES = 10_000  # users held, counting those with no rows or too many
DEFAULT_MIN_COLLECTION_ROWS = 20_000
RESIZE_CHECK_SECONDS = 60.0

WARM_PAGE_ROWS = 5000  # one get of all 100k rows failed here ("too many SQL variables"); 20k worked
DELETE_MARKER_USER = "~deletes"  # not a valid user id, so no user's rows or revision collide with it
DELETE_GRACE_SECONDS = 600.0  # a warm pass distrusts deletes begun this long before it (clock skew, slow deletes)
DELETE_MARKER_LIFETIME = 3600.0

log = logging.getLogger(__name__)


def _new_reloader() -> None:
    """One background thread for all caches' reloads; a forked child gets its own (threads do not
    survive a fork)."""
    global _reloads
    _reloads = ThreadPoolExecutor(1, thread_name_prefix="personaagent-vector-reload")


_new_reloader()
os.register_at_fork(after_in_child=_new_reloader)


@dataclass(frozen=True)
class UserRows:
    """One user's episodes as loaded under ``revision``; ``vectors`` rows are L2-normalised."""

    revision: str | None
    ids: list[str]
    documents: list[str]
    metadatas: list[dict[str, Any]]
    vectors: np.ndarray
    timestamps: np.ndarray

    def top_k(self, query_vector: np.ndarray, k: int, before: float | None = None) -> list[tuple[int, float]]:
        """``(row index, cosine distance)`` of the ``k`` nearest rows older than ``before``, nearest first."""
        if not self.ids or k <= 0:
            return []
        norm = float(np.linalg.norm(query_vector))
        similarity = self.vectors @ (query_vector / norm if norm else query_vector)
        usable = np.isfinite(self.timestamps) if before is None else self.timestamps < before  # NaN < x is False
        similarity = np.where(usable, similarity, -np.inf)
        candidates = np.argsort(-similarity, kind="stable")[:k]
        return [(int(i), 1.0 - float(similarity[i])) for i in candidates if similarity[i] != -np.inf]


def _time(meta: dict[str, Any]) -> float:
    value = meta.get("timestamp")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")


class TooLarge:
    """Marks a user whose row count exceeded the per-user limit under ``revision``; holds no rows."""

    ids: tuple = ()

    def __init__(self, revision: str | None):
        self.revision = revision


class VectorCache:
    def __init__(self, episodes, revisions, max_rows: int = DEFAULT_MAX_ROWS,
                 max_user_rows: int = DEFAULT_MAX_USER_ROWS, min_collection_rows: int = DEFAULT_MIN_COLLECTION_ROWS):
        self.episodes = episodes
        self.revisions = revisions
        self.max_rows = max_rows
        self.max_user_rows = min(max_user_rows, max_rows)
        self.min_collection_rows = min_collection_rows
        self._large: tuple[float, bool] | None = None  # (checked at, collection had enough rows)
        self._entries: OrderedDict[str, UserRows | TooLarge] = OrderedDict()
        self._cached_rows = 0
        self._lock = threading.Lock()

    # --- writers -------------------------------------------------------------------------------
    @contextmanager
    def changing(self, user_ids: Iterable[str]):
        """Around a write to these users' episodes: a new revision after it, even when it fails
        (rows another reader loaded during the write are reloaded), and a background reload of
        those cached here."""
        users = sorted(set(user_ids))
        try:
            yield
        finally:
            self.bump(users)
            with self._lock:
                held = [u for u in users if u in self._entries]
            for user in held:
                _reloads.submit(self.rows, user)

    def bump(self, user_ids: Iterable[str]) -> None:
        """Give these users a new revision; writes that bypass ``changing`` must call this after."""
        users = sorted(set(user_ids))
        if users:
            self.revisions.upsert(
                ids=users, embeddings=[_REVISION_VECTOR] * len(users),
                metadatas=[{"user_id": u, "revision": uuid.uuid4().hex} for u in users],
            )

    def deleting(self) -> None:
        """Call before deleting episodes: leaves the marker that makes a concurrent ``warm`` pass
        discard what it read (and clears markers older than an hour)."""
        now = time.time()
        self.revisions.delete(where={"$and": [{"user_id": DELETE_MARKER_USER},
                                              {"at": {"$lt": now - DELETE_MARKER_LIFETIME}}]})
        self.revisions.add(ids=[f"{DELETE_MARKER_USER}-{uuid.uuid4().hex}"], embeddings=[_REVISION_VECTOR],
                           metadatas=[{"user_id": DELETE_MARKER_USER, "at": now}])

    def revision(self, user_id: str) -> str | None:
        got = self.revisions.get(ids=[user_id], include=["metadatas"])
        return got["metadatas"][0]["revision"] if got["ids"] else None

    # --- readers ------------------------------------------------------------------------------
    def rows(self, user_id: str) -> UserRows | None:
        """The user's current rows; None (search Chroma then) when the cache is off, the collection
        is still small, or the user has too many rows to hold."""
        validate_user_id(user_id)
        if self.max_rows <= 0 or not self._collection_is_large():
            return None
        revision = self.revision(user_id)
        with self._lock:
            entry = self._entries.get(user_id)
            if entry is not None and entry.revision == revision:
                self._entries.move_to_end(user_id)
                return entry if isinstance(entry, UserRows) else None
        entry = self._load(user_id, revision)
        self._keep(user_id, entry)
        return entry if isinstance(entry, UserRows) else None

    def warm(self) -> int:
        """Load every user's rows in one paged pass over the collection; returns how many users it
        loaded. Does nothing where ``rows`` would not cache (cache off, small collection), when the
        collection has more than ``max_rows`` rows, or when an episode delete may have overlapped
        the pass; users held already are left as they are. Each page holds the interpreter for a
        fraction of a second (Chroma's call), so searches made meanwhile wait that long."""
        if self.max_rows <= 0 or not self._collection_is_large():
            return 0
        total = self.episodes.count()
        if total > self.max_rows:
            log.info("vector cache: %d episode rows exceed cache_rows=%d; not warming", total, self.max_rows)
            return 0
        started = time.time()
        revisions = self._all_revisions()
        by_user: dict[str, list[tuple[str, str, dict[str, Any], Any]]] = {}
        for got in self._pages(self.episodes, include=["embeddings", "documents", "metadatas"]):
            for row in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"]):
                by_user.setdefault(row[2]["user_id"], []).append(row)
        if self.revisions.get(where={"$and": [{"user_id": DELETE_MARKER_USER},
                                              {"at": {"$gte": started - DELETE_GRACE_SECONDS}}]}, include=[])["ids"]:
            log.info("vector cache: episodes were deleted during warm-up; users load on their first search")
            return 0
        loaded = 0
        for user_id, rows in by_user.items():
            with self._lock:
                if user_id in self._entries:
                    continue
            revision = revisions.get(user_id)
            entry = (TooLarge(revision) if len(rows) > self.max_user_rows
                     else self._user_rows(revision, *(list(column) for column in zip(*rows))))
            self._keep(user_id, entry)
            loaded += 1
        return loaded

    def start_warming(self) -> Future:
        """``warm`` on the background thread; the future gives the number of users loaded."""
        def report(done: Future) -> None:
            if not done.cancelled() and done.exception() is not None:
                log.warning("vector cache: warm-up failed: %s", done.exception())

        future = _reloads.submit(self.warm)
        future.add_done_callback(report)
        return future

    def _all_revisions(self) -> dict[str, str]:
        return {metadata["user_id"]: metadata["revision"]
                for got in self._pages(self.revisions, include=["metadatas"])
                for metadata in got["metadatas"] if "revision" in metadata}

    @staticmethod
    def _pages(collection, include: list[str]):
        """Every row of the collection, as Chroma ``get`` results of WARM_PAGE_ROWS rows."""
        offset = 0
        while True:
            got = collection.get(limit=WARM_PAGE_ROWS, offset=offset, include=include)
            yield got
            if len(got["ids"]) < WARM_PAGE_ROWS:
                return
            offset += len(got["ids"])

    def _collection_is_large(self) -> bool:
        if self.min_collection_rows <= 0:
            return True
        now = time.monotonic()
        if self._large is None or now - self._large[0] > RESIZE_CHECK_SECONDS:
            self._large = (now, self.episodes.count() >= self.min_collection_rows)
        return self._large[1]

    def _load(self, user_id: str, revision: str | None) -> UserRows | TooLarge:
        got = self.episodes.get(where={"user_id": user_id}, limit=self.max_user_rows + 1,
                                include=["embeddings", "documents", "metadatas"])
        if len(got["ids"]) > self.max_user_rows:
            return TooLarge(revision)
        return self._user_rows(revision, list(got["ids"]), list(got["documents"]), list(got["metadatas"]),
                               got["embeddings"])

    @staticmethod
    def _user_rows(revision: str | None, ids: list[str], documents: list[str], metadatas: list[dict[str, Any]],
                   embeddings) -> UserRows:
        if not ids:
            return UserRows(revision, [], [], [], np.zeros((0, 0), np.float32), np.zeros(0))
        vectors = np.asarray(embeddings, dtype=np.float32).reshape(len(ids), -1)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms == 0, 1.0, norms)
        # a row without a usable time (written before times were checked) is never a search result
        timestamps = np.asarray([_time(m) for m in metadatas], dtype=np.float64)
        return UserRows(revision, ids, documents, metadatas, vectors, timestamps)

    def _keep(self, user_id: str, entry: UserRows | TooLarge) -> None:
        with self._lock:
            old = self._entries.pop(user_id, None)
            self._cached_rows += len(entry.ids) - (len(old.ids) if old is not None else 0)
            self._entries[user_id] = entry
            while len(self._entries) > 1 and (self._cached_rows > self.max_rows
                                              or len(self._entries) > MAX_ENTRIES):
                _, dropped = self._entries.popitem(last=False)
                self._cached_rows -= len(dropped.ids)

    def cached_users(self) -> list[str]:
        """Users whose rows are held, least recently searched first."""
        with self._lock:
            return [user for user, entry in self._entries.items() if isinstance(entry, UserRows)]

    @property
    def cached_rows(self) -> int:
        return self._cached_rows
