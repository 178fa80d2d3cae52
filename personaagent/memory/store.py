"""The one memory interface, over one of two backends: Chroma (``chroma``, the default: a
persistent directory, or a Chroma server when a host is given) or PostgreSQL with pgvector
(``postgres``, when a ``postgresql://`` URL is given). Every row is tagged with its user, and all
reads filter on the validated user id, so one user's data never reaches another.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future
from contextlib import AbstractContextManager
from functools import lru_cache
from pathlib import Path

from chromadb.api.types import EmbeddingFunction
from langchain_core.language_models import BaseChatModel
from langgraph.types import RetryPolicy

from .. import environment
from ..errors import InvalidInput, PersonaConflict, VersionConflict
from ..ids import validate_user_id
from ..persona import stated
from ..persona.sections import initial_persona, remove_section, replace_section, section
from . import neighbours
from .chroma import ChromaBackend
from .embeddings import MiniLMEmbeddingFunction, embedding_function
from .postgres import is_postgres_url, open_backend as open_postgres
from .profile import summarise_profile
from .vector_cache import DEFAULT_MAX_ROWS, DEFAULT_MIN_COLLECTION_ROWS
from .versions import RETRIES, Version


class MemoryStore:
    """Episodes, profiles, personas, knowledge and the optimizer run log of every user, on a
    backend (``chroma.ChromaBackend`` or ``postgres.backend.PostgresBackend``).
    ``MemoryStore(client, embedder)`` wraps a Chroma client.

    ``cache_rows`` (Chroma only): how many episode rows (all users together) this process keeps in
    memory for exact searches (``vector_cache``), once the episodes collection has
    ``cache_from_rows`` rows; ``cache_rows=0`` sends every search to Chroma's index. Postgres
    searches the user's rows in the database and needs no cache."""

    def __init__(self, client=None, embedder: EmbeddingFunction | None = None, cache_rows: int = DEFAULT_MAX_ROWS,
                 cache_from_rows: int = DEFAULT_MIN_COLLECTION_ROWS, *, backend=None):
        if backend is None:
            if client is None:
                raise ValueError("MemoryStore needs a Chroma client or a backend")
            backend = ChromaBackend(client, embedder or MiniLMEmbeddingFunction(), cache_rows, cache_from_rows)
        self.backend = backend
        self.client = getattr(backend, "client", None)  # the Chroma client; None on Postgres
        self.embedder = backend.embedder
        self.episodes = backend.episodes
        self.profiles = backend.profiles
        self.personas = backend.personas
        self.knowledge = backend.knowledge
        self.runs = backend.runs
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        path: str | Path | None = None,
        host: str = "",
        port: int = 8000,
        embedder: EmbeddingFunction | None = None,
        cache_rows: int = DEFAULT_MAX_ROWS,
        cache_from_rows: int = DEFAULT_MIN_COLLECTION_ROWS,
        url: str = "",
    ) -> "MemoryStore":
        """A store on Postgres when ``url`` is given (``postgresql://…``), else on Chroma: a
        server at ``host``:``port``, or the directory ``path``."""
        embedder = embedder or MiniLMEmbeddingFunction()
        if url:
            return cls(backend=open_postgres(url, embedder))
        return cls(backend=ChromaBackend.open(path, host, port, embedder, cache_rows, cache_from_rows))

    def forget_user(self, user_id: str) -> None:
        """Delete every row of ``user_id`` in every collection."""
        self.backend.forget_user(validate_user_id(user_id))

    def warm_cache(self) -> Future:
        """Start loading every user's episode vectors into this process's search cache, in the
        background (``VectorCache.warm``), so that users' first searches need no Chroma read. For a
        serving process, once at start-up; ``PERSONAAGENT_WARM_CACHE=1`` does it for the stores the
        graphs open. The future gives the number of users loaded (0 on Postgres: nothing to load)."""
        return self.backend.warm_cache()

    def checkpointer(self, sqlite_file: str | Path | None = None) -> AbstractContextManager:
        """A LangGraph checkpointer for chat threads and optimizer runs, as a context manager: on
        Postgres, in the same database (a run resumes from any process that reaches it); on
        Chroma, the SQLite file ``sqlite_file`` (this machine only), or without one this
        process's memory."""
        return self.backend.checkpointer(None if sqlite_file is None else Path(sqlite_file))

    def close(self) -> None:
        """Release the backend's connections (Postgres); the store is unusable afterwards."""
        self.backend.close()

    # --- persona -------------------------------------------------------------------------
    def current_persona(self, user_id: str) -> Version:
        """The user's current persona; the first call creates the initial one from the profile
        (when another process creates it at the same moment, that one is the user's persona)."""
        validate_user_id(user_id)
        with self._lock:
            current = self.personas.latest(user_id)
            if current is None:
                profile = self.profiles.latest(user_id)
                try:
                    current = self.personas.save(
                        user_id, initial_persona(user_id, profile.text if profile else None), source="initial",
                        profile_version=profile.version if profile else 0, after=0,
                    )
                except VersionConflict:
                    current = self.personas.latest(user_id)
            return current

    def save_optimized_persona(
        self, user_id: str, text: str, expected_parent: int, *, loss: float, critique: str, run_marker: str,
        **extra,
    ) -> Version:
        """Store an optimizer's accepted persona, unless the stored persona moved on meanwhile.

        ``expected_parent`` is the version the candidate was built from; if another writer (a
        rollback, a manual edit, another optimization, in this process or another) stored a newer
        version, this raises ``PersonaConflict`` rather than overwrite it: the write claims
        version ``expected_parent + 1`` (see ``VersionedTexts``). Re-running the same accept (a
        resumed run) finds its own version, recognised by ``run_marker``, and returns it.
        """
        with self._lock:
            latest = self.personas.latest(user_id)
            if latest is not None and latest.extra.get("run_marker") == run_marker:
                return latest
            try:
                return self.personas.save(user_id, text, source="optimizer", parent=expected_parent, loss=loss,
                                          critique=critique, run_marker=run_marker, after=expected_parent, **extra)
            except VersionConflict:
                latest = self.personas.latest(user_id)
                raise PersonaConflict(
                    f"persona of {user_id!r} changed during optimization (now v{latest.version if latest else 0}, "
                    f"expected v{expected_parent}); the candidate was not stored") from None

    def rollback_persona(self, user_id: str, to_version: int) -> Version:
        """Make version ``to_version`` current again, as a new version (history is never lost)."""
        with self._lock:
            target = self.personas.get(user_id, to_version)
            current = self.personas.latest(user_id)
            try:
                return self.personas.save(user_id, target.text, source="rollback", parent=current.version,
                                          loss=target.loss, rolled_back_to=to_version, after=current.version)
            except VersionConflict:
                raise PersonaConflict(f"persona of {user_id!r} changed while rolling back to v{to_version}; "
                                      "nothing was stored: try again") from None

    def keep_stated(self, user_id: str, new: list[stated.Statement]) -> Version | None:
        """Add what the user stated to their current persona, as a new version (``source``
        "stated"); a statement on the same subject as an earlier one replaces it in the persona
        (``stated.merged``: the earlier one stays in the version history). None when there is
        nothing new. Another writer storing a version meanwhile is not overwritten: the
        statements go on top of theirs."""
        if not new:
            return None
        for _ in range(RETRIES):
            current = self.current_persona(user_id)
            kept, replaced = stated.merged(stated.statements(current.text), new, self.embedder)
            text = stated.with_statements(current.text, kept)
            if text == current.text:
                return None
            try:
                return self.personas.save(
                    user_id, text, source="stated", parent=current.version, after=current.version,
                    from_profile=bool(current.source == "initial" or current.extra.get("from_profile")),
                    episodes=",".join(s.episode for s in new), replaced=len(replaced))
            except VersionConflict:
                continue
        raise PersonaConflict(f"persona of {user_id!r} kept changing while storing what the user stated; "
                              "nothing was stored: try again")

    def forget_statements(self, user_id: str, numbers: list[int]) -> Version:
        """Remove the statements numbered ``numbers`` (1 is the oldest, as ``persona show``
        lists them) from the user's persona, as a new version (``source`` "forget"). Only the
        user does this; the optimizer never edits the section."""
        with self._lock:
            current = self.personas.latest(user_id)
            kept = stated.statements(current.text) if current else []
            wrong = sorted(n for n in set(numbers) if not 1 <= n <= len(kept))
            if not numbers or wrong:
                raise InvalidInput(f"{user_id!r} has {len(kept)} stated preference(s); there is no number "
                                   f"{', '.join(map(str, wrong)) or '(none given)'} to forget")
            text = stated.with_statements(current.text, (s for i, s in enumerate(kept, 1) if i not in set(numbers)))
            try:
                return self.personas.save(user_id, text, source="forget", parent=current.version,
                                          after=current.version, forgot=len(set(numbers)),
                                          from_profile=bool(current.source == "initial" or current.extra.get("from_profile")))
            except VersionConflict:
                raise PersonaConflict(f"persona of {user_id!r} changed while forgetting; nothing was stored: "
                                      "try again") from None

    def optimization_due(self, user_id: str, every: int) -> bool:
        """True when ``every`` (> 0) or more labelled interactions arrived since the user's last
        optimization run started."""
        if every <= 0:
            return False
        since = self.runs.last_started(user_id)
        labelled = self.episodes.list(user_id, labelled=True)
        return sum(1 for i in labelled if since is None or i.timestamp > since) >= every

    # --- semantic profile ----------------------------------------------------------------
    def profile_is_stale(self, user_id: str, every: int) -> bool:
        """True when ``every`` or more interactions arrived since the latest profile."""
        latest = self.profiles.latest(user_id)
        covered = int(latest.extra.get("interactions", 0)) if latest else 0
        return self.episodes.count(user_id) - covered >= max(every, 1)

    def refresh_profile(self, user_id: str, model: BaseChatModel, retry: RetryPolicy | None = None,
                        cold_start_below: int = 0, half_life_days: float = 0.0) -> Version:
        """Summarise a new profile version (each model call retried under ``retry``; phrases the
        user's history contradicts, recency-weighted with ``half_life_days`` (0: off), are
        dropped, and counted in the version); a persona
        built from the profile (never optimised or set by hand) follows it, keeping what the user
        stated. While the user has fewer than ``cold_start_below`` labelled interactions (0: off),
        that persona also holds what the users most like them share (``neighbours``); once they
        have that many, the borrowed section leaves whatever persona holds it."""
        items = self.episodes.list(user_id)
        summary = summarise_profile(model, items, retry, half_life_days)
        text = summary.text
        previous = self.profiles.latest(user_id)
        profile = self.profiles.save(
            user_id, text, source="summary", parent=previous.version if previous else None,
            interactions=len(items), lines_written=summary.lines_written,
            lines_contradicted=summary.lines_contradicted, dropped=len(summary.dropped),
            supported=json.dumps(summary.supported, ensure_ascii=False),
        )
        cold = neighbours.is_cold(self, user_id, cold_start_below)
        similar = neighbours.nearest(self, user_id, cold_start_below) if cold else []
        borrowed = neighbours.borrowed_section(self, similar)
        with self._lock:
            persona = self.personas.latest(user_id)
            try:
                if persona is None or persona.source == "initial" or persona.extra.get("from_profile"):
                    self._follow_profile(user_id, persona, profile, borrowed)
                elif not cold and section(persona.text, neighbours.TITLE) is not None:
                    self.personas.save(user_id, remove_section(persona.text, neighbours.TITLE), source="own_history",
                                       parent=persona.version, after=persona.version)
            except VersionConflict:  # another writer moved the persona on: theirs stands
                pass
        return profile

    def _follow_profile(self, user_id: str, persona: Version | None, profile: Version, borrowed: str) -> None:
        """Store the persona built from ``profile`` (with the ``borrowed`` section when there is
        one), keeping what the user stated."""
        built = initial_persona(user_id, profile.text)
        if borrowed:
            built = replace_section(built, neighbours.TITLE, borrowed)
        told = stated.statements(persona.text) if persona else []
        self.personas.save(
            user_id, stated.with_statements(built, told), source="initial", parent=persona.version if persona else None,
            profile_version=profile.version, borrowed=neighbours.neighbour_count(borrowed) or 0,
            after=persona.version if persona else 0,
        )


@lru_cache(maxsize=8)
def _open_cached(url: str, path: str, host: str, port: int, embed_url: str, embed_model: str) -> MemoryStore:
    store = MemoryStore.open(path or None, host, port, embedding_function(embed_url, embed_model), url=url)
    if environment.flag("PERSONAAGENT_WARM_CACHE"):
        store.warm_cache()
    return store


_open_lock = threading.Lock()


def memory_for(context) -> MemoryStore:
    """The store a runtime ``Context`` points at (one open store per location per process):
    Postgres when ``memory_url`` is set, else Chroma. Opening is serialised: parallel simulations
    that are a process's first users of a store must not create its Chroma client concurrently
    (chromadb fails that race)."""
    url = context.memory_url.strip()
    if url:
        is_postgres_url(url, strict=True)
        where = ("", "", 0)
    else:
        where = ("" if context.chroma_host else str(context.resolved_chroma_path()), context.chroma_host,
                 context.chroma_port)
    with _open_lock:
        return _open_cached(url, *where, context.embedding_base_url, context.embedding_model)
