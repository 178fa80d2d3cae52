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
