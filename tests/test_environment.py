"""Environment variables have one home (``personaagent.environment``): no other module reads
``os.environ``, every ``PERSONAAGENT_*`` name the package uses is listed there with its default,
and each reader sees the variable it names."""

import ast
import re
from pathlib import Path

import pytest

from personaagent import environment
from personaagent.context import Context, default_home
from personaagent.models.local import cache_dir
from personaagent.models.resilience import model_retry
from personaagent.server.tokens import OPEN, token_table
from personaagent.web import network_available

PACKAGE = Path(environment.__file__).parent


def _reads_the_environment(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" \
                and node.attr in ("environ", "getenv", "environb", "putenv"):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "os" and {a.name for a in node.names} & {"environ", "getenv"}:
            return True
    return False


def test_only_the_environment_module_reads_the_environment():
    readers = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if _reads_the_environment(ast.parse(p.read_text())))
    assert readers == ["environment.py"]


def test_every_variable_the_package_names_is_listed_with_its_default():
    named = {m for p in PACKAGE.rglob("*.py") for m in re.findall(r"PERSONAAGENT_[A-Z_]*[A-Z]", p.read_text())}
    assert named <= set(environment.VARIABLES), named - set(environment.VARIABLES)
    context_fields = {v.meaning.removeprefix("Context.") for v in environment.VARIABLES.values()
                      if v.meaning.startswith("Context.")}
    assert context_fields <= set(Context.__dataclass_fields__)


@pytest.fixture
def clean(monkeypatch):
    for name in environment.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_unset_or_empty_variables_take_their_defaults(clean):
    clean.setenv("PERSONAAGENT_RETRY_ATTEMPTS", "")
    assert model_retry().max_attempts == 4 and Context().chroma_port == 8000 and Context().model_base_url == ""
    assert default_home() == Path.home() / ".personaagent" and cache_dir() == Path.home() / ".cache" / "personaagent"
    with pytest.raises(Exception, match="no API tokens"):
        token_table()


def test_each_reader_sees_its_variable(clean, tmp_path):
    clean.setenv("PERSONAAGENT_RETRY_ATTEMPTS", "2")
    clean.setenv("PERSONAAGENT_CHROMA_PORT", "9001")
    clean.setenv("PERSONAAGENT_BASE_URL", "http://models:8080/v1")
    clean.setenv("PERSONAAGENT_HOME", str(tmp_path / "home"))
    clean.setenv("PERSONAAGENT_CACHE", str(tmp_path / "cache"))
    clean.setenv("PERSONAAGENT_WEB_SEARCH", "0")
    clean.setenv("PERSONAAGENT_AUTH", "OFF")
    assert model_retry().max_attempts == 2
    assert (Context().chroma_port, Context().model_base_url) == (9001, "http://models:8080/v1")
    assert (default_home(), cache_dir()) == (tmp_path / "home", tmp_path / "cache")
    assert network_available() is False and token_table() is OPEN
    clean.setenv("PERSONAAGENT_CHROMA_PORT", "eighty")
    with pytest.raises(Exception, match="PERSONAAGENT_CHROMA_PORT must be a whole number"):
        Context()
