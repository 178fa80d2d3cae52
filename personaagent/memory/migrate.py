"""Copy every row of every collection of one store into another (Chroma ↔ Postgres, or between two
stores of one kind), then compare both sides by count and checksum.

The copy pages through the source; for each page it reads the target's rows with the same ids and
writes only those missing or different. So an interrupted migration, run again, writes only what
it had not written; a finished one, run again, writes nothing; and rows of the target that the
source lacks are never deleted (the comparison then reports the difference). Writers should be
stopped while it runs: a Chroma source is paged by offset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .rows import COLLECTIONS, VECTORS_COPIED, Checksum, Row
from .store import MemoryStore

PAGE_ROWS = 500


@dataclass(frozen=True)
class CollectionReport:
    collection: str
    source_rows: int
    target_rows: int
    written: int
    source_checksum: str
    target_checksum: str

    @property
    def matches(self) -> bool:
        return self.source_rows == self.target_rows and self.source_checksum == self.target_checksum


def checksum(store: MemoryStore, collection: str, page_rows: int = PAGE_ROWS) -> Checksum:
    """The checksum of every row of ``collection`` in ``store`` (``rows.Checksum``)."""
    total = Checksum(collection in VECTORS_COPIED)
    for page in store.backend.rows.pages(collection, page_rows):
        for row in page:
            total.add(row)
    return total


def _changed(page: list[Row], stored: dict[str, Row], with_vector: bool) -> list[Row]:
    return [row for row in page
            if row.id not in stored or stored[row.id].digest(with_vector) != row.digest(with_vector)]


def migrate(source: MemoryStore, target: MemoryStore, page_rows: int = PAGE_ROWS,
            on_page: Callable[[str, int, int], None] | None = None) -> list[CollectionReport]:
    """Copy ``source`` into ``target``, collection by collection; ``on_page(collection, read,
    written)`` after each page. Returns what each collection holds on both sides afterwards."""
    reports = []
    for collection in COLLECTIONS:
        with_vector = collection in VECTORS_COPIED
        read, written = Checksum(with_vector), 0
        for page in source.backend.rows.pages(collection, page_rows):
            changed = _changed(page, target.backend.rows.fetch(collection, page), with_vector)
            target.backend.rows.write(collection, changed)
            for row in page:
                read.add(row)
            written += len(changed)
            if on_page:
                on_page(collection, len(page), len(changed))
        copied = checksum(target, collection, page_rows)
        reports.append(CollectionReport(collection, read.rows, copied.rows, written, read.hexdigest(),
                                        copied.hexdigest()))
    return reports
