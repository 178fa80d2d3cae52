import subprocess
import sys

import pytest

from personaagent.cli import main
from personaagent.services.demo import demo_file, demo_questions, run_demo
from personaagent.memory import MemoryStore, read_history
from personaagent.resources import Resources
from personaagent.testing import HashEmbeddingFunction, ScriptedChatModel, distribution_reply, persona_agent_script


@pytest.mark.parametrize("argv", [[], ["demo"], ["chat"], ["ingest"], ["persona"], ["persona", "show"], ["persona", "history"]])
def test_every_command_has_help(argv):
    result = subprocess.run([sys.executable, "-m", "personaagent.cli", *argv, "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "usage: personaagent" in result.stdout


def test_ingest_then_persona_commands(tmp_path, capsys):
    home = str(tmp_path)
    assert main(["--home", home, "ingest", "--user", "maya", str(demo_file("maya.jsonl")), "--no-profile"]) == 0
    assert "stored 20 interaction(s) for maya (20 labelled); 20 in total" in capsys.readouterr().out
    assert main(["--home", home, "persona", "show", "--user", "maya"]) == 1  # none yet: no profile run
    store = MemoryStore.open(tmp_path / "chroma")
    store.current_persona("maya")
    store.personas.save("maya", "edited by hand", source="manual", parent=1)
    capsys.readouterr()
    assert main(["--home", home, "persona", "history", "--user", "maya"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("v1 ") and "initial" in lines[0]
    assert lines[1].startswith("v2 ") and "manual parent=v1" in lines[1]
    assert main(["--home", home, "persona", "show", "--user", "maya", "--version", "2"]) == 0
    assert "edited by hand" in capsys.readouterr().out
    assert main(["--home", home, "persona", "show", "--user", "maya", "--version", "9"]) == 2
    assert "persona version 9 does not exist" in capsys.readouterr().err


def test_bad_ingest_exits_non_zero_naming_lines_and_stores_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "ok", "ground_truth": "x"}\n{"query": 3, "ground_truth": "x"}\n')
    assert main(["--home", str(tmp_path), "ingest", "--user", "eve", str(bad), "--no-profile"]) == 2
    err = capsys.readouterr().err
    assert "line 2: field 'query' must be a string" in err and "nothing was stored" in err
    assert MemoryStore.open(tmp_path / "chroma").episodes.count("eve") == 0


def test_bad_user_id_exits_non_zero(tmp_path, capsys):
    assert main(["--home", str(tmp_path), "ingest", "--user", "../x", str(demo_file("maya.jsonl"))]) == 2
    assert "may only contain" in capsys.readouterr().err


def test_knowledge_ingest(tmp_path, capsys):
    assert main(["--home", str(tmp_path), "ingest", "--user", "maya", "--knowledge", str(demo_file("catalogue.jsonl"))]) == 0
    assert "stored 24 knowledge item(s) for maya" in capsys.readouterr().out


def test_demo_runs_the_graph_and_the_optimizer_for_each_user(tmp_path):
    def pick(system, messages):
        letters = [line[0] for line in messages[-1].content.splitlines() if line[1:3] == ". "]
        return distribution_reply({letters[0] if "FIRST-OPTION" in system else letters[-1]: 0.9, "Sure": 0.1})

    respond = persona_agent_script(pick, profile="likes science fiction",
                                   rewrite="You are the assistant of this user. FIRST-OPTION persona.")

    memory = MemoryStore.open(tmp_path / "store", embedder=HashEmbeddingFunction())
    lines: list[str] = []
    results = run_demo(tmp_path, ("maya", "omar"), 2, optimize_iters=1, say=lines.append,
                       resources=Resources(memory=memory, agent_model=ScriptedChatModel(script=respond)))
    text = "\n".join(lines)
    assert [r.user for r in results] == ["maya", "omar"]
    assert "- movies: likes science fiction" in results[0].persona
    assert "reason → tool call" not in text  # one model call per question, no tool round trip
    assert text.count("look_up: profile, knowledge") == 8  # 2 users x 2 questions, before and after
    assert "retrieve_memory: 4 memories, persona v1" in text
    for r in results:
        assert r.optimization["loss_curve"][0]["outcome"] == "baseline"
        # 11 simulations (batch 3, validation 8) for the baseline, then 11 simulations each of the
        # evidence and prune candidates (code operators: no critique, no model call to rewrite);
        # each reads its three options under their three orders (Context.option_orders)
        assert len(r.optimization["loss_curve"]) == 2 and r.optimization["model_calls"] == 3 * (11 + 2 * 11)
        assert [c["operator"] for c in r.optimization["pool"]] == ["evidence", "prune"]
        for a, q in zip(r.answers + r.answers_after, demo_questions()[r.user][:2] * 2):
            assert a["answer"] in q["options"] and a["match"] == (a["answer"] == q["expected"])
        if r.optimization["accepted"]:
            assert f"the same questions under persona v{r.optimization['final_version']}" in text
    assert memory.episodes.count("maya") == 20  # demo questions are not written to memory
    assert "optimizing the persona" in text and "after optimization (loss" in text


def test_every_demo_question_and_history_line_states_its_options():
    for user, questions in demo_questions().items():
        for q in questions:
            assert q["expected"] in q["options"]
        for item in read_history(user, demo_file(f"{user}.jsonl")):
            assert item.options and item.ground_truth in item.options
