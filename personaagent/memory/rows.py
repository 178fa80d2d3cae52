"""Stored rows in one shape for every backend, so that a migration can copy them and compare
both sides: a row is its id, its document and its metadata as the Chroma backend keeps them
(``episodes``: ``episodic._to_metadata``; ``profiles`` / ``personas``: the version's fields), plus
the episode's vector.

Only episodes carry their vectors across: they are most of the data and re-embedding a large
store takes hours. Every other collection is re-embedded by the store that receives it (Chroma
embeds every document; the Postgres backend embeds knowledge items only), so its digest leaves
vectors out.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

COLLECTIONS = ("episodes", "profiles", "personas", "knowledge", "optimizer_runs")
VECTORS_COPIED = frozenset({"episodes"})
_MODULUS = 1 << 256


@dataclass(frozen=True)
class Row:
    id: str
    document: str
    metadata: dict[str, Any]
    embedding: np.ndarray | None = None

    def digest(self, with_vector: bool) -> bytes:
        """A SHA-256 of the row's content (its vector too when ``with_vector``), independent of
        the order in which its metadata keys were stored."""
        content = json.dumps([self.id, self.document, self.metadata], sort_keys=True, ensure_ascii=False)
        digest = hashlib.sha256(content.encode())
        if with_vector:
            digest.update(b"\x00" if self.embedding is None else np.asarray(self.embedding, dtype="<f4").tobytes())
        return digest.digest()


class Checksum:
    """An order-independent checksum of a collection: the sum of its rows' digests modulo 2^256,
    and how many rows went into it. Two collections with the same rows have the same checksum,
    however they were paged."""

    def __init__(self, with_vector: bool):
        self.with_vector = with_vector
        self.rows = 0
        self._sum = 0

    def add(self, row: Row) -> None:
        self.rows += 1
        self._sum = (self._sum + int.from_bytes(row.digest(self.with_vector), "big")) % _MODULUS

    def hexdigest(self) -> str:
        return f"{self._sum:064x}"


def user_label(user_id: str) -> str:
    """A validated user id as a LangGraph store namespace label, which may not contain '.':
    '.' becomes ':', which no user id contains, so two users never share a label."""
    return user_id.replace(".", ":")
