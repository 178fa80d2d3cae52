"""README.md against what it describes: its first screen, its library example (run as written,
with the scripted model and the hashing embedding in place of the embedded ones), its drawings of
the two graphs, and its generated tables (``scripts/readme.py``) against Context, the environment
variables and the results' report.json files."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
from dataclasses import fields
from pathlib import Path

import pytest

from personaagent import environment
from personaagent.context import Context
from personaagent.graphs.agent import build_agent_graph
from personaagent.graphs.optimizer import build_optimizer_graph
from personaagent.persona.stated import TITLE as STATED
from personaagent.testing import HashEmbeddingFunction, ScriptedChatModel, distribution_reply, persona_agent_script

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "README.md").read_text()
LINES = TEXT.splitlines()


def generator():
    spec = importlib.util.spec_from_file_location("readme_generator", ROOT / "scripts" / "readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fenced(language: str) -> list[tuple[int, str]]:
    """Each fenced block in ``language``: the line its fence opens on (0-based) and its text."""
    return [(TEXT[:m.start()].count("\n"), m[1]) for m in re.finditer(rf"^```{language}\n(.*?)^```$", TEXT, re.S | re.M)]


def test_the_readme_is_short_and_its_first_screen_gets_a_newcomer_to_a_library_call():
    assert len(TEXT) <= 12_000
    first = "\n".join(LINES[:80])
    assert "**Status:**" in first and "](results/README.md)" in first
    assert 'pip install -e ".[local]"' in first and "./scripts/demo" in first and "./scripts/test" in first
    start, code = fenced("python")[0]
    assert start + len(code.splitlines()) + 1 < 80 and len(code.splitlines()) <= 15


def test_the_sections_come_in_the_order_the_issue_gives():
    headings = [line[3:] for line in LINES if line.startswith("## ")]
    assert headings == ["Install", "Use it from Python", "Configuration", "CLI", "Embedding", "Server and Studio",
                        "How it works", "Results", "Development"]


def test_every_local_link_of_the_readme_leads_to_a_file():
    targets = {t.split("#")[0] for t in re.findall(r"\]\(([^)]+)\)", TEXT) if not t.startswith(("http", "#"))}
    assert targets and all((ROOT / t).exists() for t in targets), [t for t in targets if not (ROOT / t).exists()]


def example_model() -> ScriptedChatModel:
    """Prefers the beef ramen unless the system prompt quotes 'I never eat meat.'; names that
    sentence a preference and nothing else."""
    def answer(system, messages):
        letters = {line[3:].strip(): line[0] for line in str(messages[-1].content).splitlines() if line[1:3] == ". "}
        if not letters:
            return "A chickpea wrap."
        beef = 0.2 if '"I never eat meat."' in system else 0.7
        return distribution_reply({letters["beef ramen"]: beef, letters["mushroom risotto"]: 1 - beef})

    return ScriptedChatModel(script=persona_agent_script(
        answer, stated=lambda sentence: 0.95 if sentence == "I never eat meat." else 0.05))


def test_the_library_example_runs_as_written(tmp_path, monkeypatch):
    """The README's example, unchanged, with the model and embedding it would get from the
    environment replaced by the scripted ones: the stated preference lands in the persona and
    turns the answer from the beef ramen the model prefers to the risotto."""
    import personaagent.memory.store as store
    import personaagent.resources as resources

    model = example_model()
    monkeypatch.setattr(resources, "chat_model", lambda settings: model)
    monkeypatch.setattr(store, "MiniLMEmbeddingFunction", HashEmbeddingFunction)
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(fenced("python")[0][1], "README.md", "exec"), {"__name__": "__main__"})
    answer, persona = printed.getvalue().split("\n", 1)
    assert answer.startswith("mushroom risotto {'beef ramen': ")
    assert f"## {STATED}" in persona and '"I never eat meat."' in persona
    assert (tmp_path / "persona-store").is_dir()
    answering = [c for c in model.calls if "Dinner tonight?" in str(c["messages"][-1].content)]
    assert len(answering) == 2  # read under both orders of the options


def test_the_drawings_are_the_graphs_as_they_are():
    drawn = [code for _, code in fenced("mermaid")]
    assert drawn == [build_agent_graph().compile().get_graph().draw_mermaid().rstrip("\n") + "\n",
                     build_optimizer_graph().compile().get_graph().draw_mermaid().rstrip("\n") + "\n"]


def test_every_generated_block_is_in_the_readme_and_current():
    readme = generator()
    assert set(readme.blocks(TEXT)) == set(readme.GENERATORS)
    assert readme.stale(TEXT) == []


def test_the_configuration_table_names_every_context_field_and_variable():
    table = generator().blocks(TEXT)["configuration"]
    rows = [line for line in table.splitlines()[2:]]
    assert len(rows) == len(fields(Context)) + sum(not v.meaning.startswith("Context.")
                                                   for v in environment.VARIABLES.values())
    for f in fields(Context):
        assert any(row.startswith(f"| `{f.name}` |") and f.metadata["description"] in row for row in rows)
    for name in environment.VARIABLES:
        assert sum(f"`{name}`" in row for row in rows) == 1


def test_every_figure_of_the_results_table_is_in_its_report(tmp_path):
    readme = generator()
    table = readme.blocks(TEXT)["results"]
    for run in readme.HEADLINE:
        report = json.loads((ROOT / "results" / run / "report.json").read_text())
        row = next(line for line in table.splitlines() if line.startswith(f"| [{run}]("))
        figures = [float(x) for x in re.findall(r"\d+\.\d{3}", row)]
        metric = "MAE" if report["kind"] == "rating" else "accuracy"
        expected = [v for r in report["rungs"].values() if metric in r for v in (r[metric], *r[f"{metric}_ci95"])]
        expected += [v for b in [report.get("baselines", {}).get("user mean")] if b for v in (b["MAE"], *b["MAE_ci95"])]
        assert figures and all(any(abs(f - e) < 0.0005 for e in expected) for f in figures)


def test_a_changed_report_makes_the_results_block_stale(tmp_path):
    readme = generator()
    for run in readme.HEADLINE:
        report = json.loads((ROOT / "results" / run / "report.json").read_text())
        next(iter(report["rungs"].values()))["accuracy" if report["kind"] != "rating" else "MAE"] += 0.1
        (tmp_path / "results" / run).mkdir(parents=True)
        (tmp_path / "results" / run / "report.json").write_text(json.dumps(report))
    assert readme.results(tmp_path) != readme.blocks(TEXT)["results"]
    assert readme.results(ROOT) == readme.blocks(TEXT)["results"]


@pytest.mark.parametrize("name", ["configuration", "results"])
def test_regenerating_rewrites_a_block_that_was_edited_by_hand(name):
    readme = generator()
    edited = TEXT.replace(readme.blocks(TEXT)[name], readme.blocks(TEXT)[name].replace("|", "¦", 3))
    assert readme.stale(edited) == [name]
    assert readme.regenerated(edited) == TEXT
