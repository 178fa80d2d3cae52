"""Per-user versioned texts in one Chroma collection (profiles and personas use it).

Each version is its own row ``{user}:v{n}`` with the text as the document, so it is embedded
(the persona map of the evaluation projects these vectors) and never overwritten.

A write is a compare-and-set that holds across processes and across a Chroma server: the writer
claims the id of the version it means to store with a token of its own and reads the row back;
Chroma keeps the first row stored under an id (a later ``add`` of the same id changes nothing),
so exactly one writer finds its own token there. The others stored nothing.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import chromadb.errors

from ..errors import UnknownVersion, VersionConflict
from ..ids import validate_user_id
from .episodic import user_filter


@dataclass
class Version:
    user_id: str
    version: int
    text: str
    created_at: float
    source: str
    parent: int | None = None
    loss: float | None = None
    critique: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_KNOWN = {"user_id", "version", "created_at", "source", "parent", "loss", "critique", "claim"}
RETRIES = 5  # an unconditional append tries again on top of a version another writer just stored


def _from_row(document: str, meta: dict[str, Any]) -> Version:
    return Version(
        user_id=meta["user_id"],
        version=int(meta["version"]),
        text=document,
        created_at=meta["created_at"],
        source=meta["source"],
        parent=meta.get("parent"),
        loss=meta.get("loss"),
        critique=meta.get("critique"),
        extra={k: v for k, v in meta.items() if k not in _KNOWN},
    )


class VersionedTexts:
    def __init__(self, collection, kind: str):
        self.collection = collection
        self.kind = kind

    def history(self, user_id: str) -> list[Version]:
        rows = self.collection.get(where=user_filter(user_id))
        return sorted(
            (_from_row(d, m) for d, m in zip(rows["documents"], rows["metadatas"])), key=lambda v: v.version
        )

    def latest(self, user_id: str) -> Version | None:
        versions = self.history(user_id)
        return versions[-1] if versions else None

    def get(self, user_id: str, version: int) -> Version:
        rows = self.collection.get(ids=[f"{validate_user_id(user_id)}:v{int(version)}"])
        if not rows["ids"]:
            known = [v.version for v in self.history(user_id)]
            raise UnknownVersion(f"{self.kind} version {version} does not exist for user {user_id!r} (known: {known})")
        return _from_row(rows["documents"][0], rows["metadatas"][0])

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
        the version goes on top of whatever is latest, trying again if another writer got there
        first."""
        validate_user_id(user_id)
        if not text or not text.strip():
            raise ValueError(f"refusing to store an empty {self.kind} for user {user_id!r}")
        for _ in range(1 if after is not None else RETRIES):
            if after is not None:
                number = after + 1
            else:
                latest = self.latest(user_id)
                number = (latest.version if latest else 0) + 1
            meta: dict[str, Any] = {"user_id": user_id, "version": number, "created_at": time.time(),
                                    "source": source, "claim": uuid.uuid4().hex, **extra}
            for key, value in (("parent", parent), ("loss", loss), ("critique", critique)):
                if value is not None:
                    meta[key] = value
            if self._claim(f"{user_id}:v{number}", text, meta):
                return _from_row(text, meta)
        raise VersionConflict(f"{self.kind} version {number} of {user_id!r} was stored by another writer meanwhile; "
                              "this one was not stored")

    def _claim(self, row_id: str, text: str, meta: dict[str, Any]) -> bool:
        """Store the row under ``row_id`` unless that id is taken; True when the stored row is ours."""
        try:
            self.collection.add(ids=[row_id], documents=[text], metadatas=[meta])
        except chromadb.errors.DuplicateIDError:  # a backend that refuses the id instead of keeping the first
            pass
        stored = self.collection.get(ids=[row_id], include=["metadatas"])
        return bool(stored["ids"]) and stored["metadatas"][0].get("claim") == meta["claim"]
