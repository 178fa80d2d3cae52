import os

import pytest

# No test may reach out to the internet: web search is never offered.
os.environ["PERSONAAGENT_WEB_SEARCH"] = "0"

from personaagent.context import Context  # noqa: E402
from personaagent.memory import MemoryStore  # noqa: E402
from personaagent.testing import HashEmbeddingFunction  # noqa: E402



@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "chroma"


@pytest.fixture
def memory(store_path) -> MemoryStore:
    return MemoryStore.open(store_path, embedder=HashEmbeddingFunction())


@pytest.fixture
def context_for(store_path):
    def make(user: str, **kw) -> Context:
        kw.setdefault("profile_every", 1000)
        return Context(user_id=user, chroma_path=str(store_path), **kw)

    return make
