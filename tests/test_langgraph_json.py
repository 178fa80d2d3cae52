import dataclasses
import importlib
import json
from pathlib import Path

from personaagent.context import Context

ROOT = Path(__file__).resolve().parents[1]


def test_langgraph_json_graphs_import_and_have_no_checkpointer():
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert set(config["graphs"]) == {"agent", "optimizer"}
    for spec in config["graphs"].values():
        module, attr = spec.split(":")
        graph = getattr(importlib.import_module(module), attr)
        assert graph.checkpointer is None and graph.store is None
        assert graph.context_schema is Context


def test_every_context_field_is_described_for_studio():
    for f in dataclasses.fields(Context):
        assert f.metadata.get("description"), f"Context.{f.name} has no description"


def test_studio_renders_the_persona_as_an_editable_prompt_of_the_reason_node():
    from personaagent.graphs.agent import graph

    persona = graph.get_context_jsonschema()["properties"]["persona"]
    assert persona["langgraph_type"] == "prompt" and persona["langgraph_nodes"] == ["reason"]
    assert persona["default"] == "" and "instead of the user's stored persona" in persona["description"]


def test_auth_is_configured_for_the_server():
    config = json.loads((ROOT / "langgraph.json").read_text())
    module, attr = config["auth"]["path"].split(":")
    from langgraph_sdk import Auth

    assert isinstance(getattr(importlib.import_module(module), attr), Auth)
    assert config["auth"]["disable_studio_auth"] is True  # no header-only bypass in `langgraph dev`
