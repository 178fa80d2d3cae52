import re
import subprocess
import sys
from dataclasses import replace

import pytest

from personaagent.answers.closed_form import option_orders
from personaagent.context import Context
from personaagent.cli import main
from personaagent.persona.settings import OptimizerSettings
from personaagent.services.demo import FIRST_LOOK, FULL, SAMPLE_USERS, demo_file, demo_questions, run_demo
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


def demo_model() -> ScriptedChatModel:
    """Answers each demo question or history request with the option the user wants once the
    persona has a section of computed evidence, and with another option before."""
    from personaagent.persona.evidence import TITLE as EVIDENCE

    wanted = {q["query"]: q["expected"] for qs in demo_questions().values() for q in qs}
    for user in SAMPLE_USERS:
        wanted |= {i.query: i.ground_truth for i in read_history(user, demo_file(f"{user}.jsonl"))}

    def pick(system, messages):
        text = messages[-1].content
        right = next(truth for query, truth in wanted.items() if query in text)
        letters = {line[3:].strip(): line[0] for line in text.splitlines() if line[1:3] == ". "}
        chosen = right if EVIDENCE in system else next(o for o in letters if o != right)
        return distribution_reply({letter: 0.8 if option == chosen else 0.2 / (len(letters) - 1)
                                   for option, letter in letters.items()})

    return ScriptedChatModel(script=persona_agent_script(pick, profile="likes science fiction"))


def test_the_first_look_demo_shows_one_user_before_and_after_one_optimization(tmp_path):
    memory = MemoryStore.open(tmp_path / "store", embedder=HashEmbeddingFunction())
    lines: list[str] = []
    [result] = run_demo(tmp_path, FIRST_LOOK, say=lines.append,
                        resources=Resources(memory=memory, agent_model=demo_model()))
    text = "\n".join(lines)
    assert result.user == "maya" and "- movies: likes science fiction" in result.persona
    assert f"initial persona (v1):\n    {result.persona.splitlines()[0]}" in text
    assert "reason → tool call" not in text  # one model call per option order, no tool round trip
    assert text.count("look_up: profile, knowledge") == 2  # 1 question, before and after
    o = result.optimization
    # 2 simulations (batch 1, validation 1) for the baseline and 2 for the one candidate (evidence:
    # computed by code, no critique), each reading its options under the default orders
    latest = sorted(read_history("maya", demo_file("maya.jsonl")), key=lambda i: i.timestamp)[-2:]
    orders = Context(user_id="maya").option_orders
    assert len(o["selection"]) == 2 and o["model_calls"] == 2 * sum(len(option_orders(i.options, orders)) for i in latest)
    assert [c["operator"] for c in o["pool"]] == ["evidence"] and o["accepted"] == 1 and o["final_version"] == 2
    assert o["best_loss"] < o["initial_loss"]
    assert "persona after (v2), what changed from v1:" in text and "+## Evidence from this user's history" in text
    assert [a["match"] for a in result.answers] == [False]  # before: another option
    assert [a["match"] for a in result.answers_after] == [True]  # under the evidence persona: the right one
    for a, q in zip(result.answers + result.answers_after, demo_questions()["maya"][:1] * 2):
        assert a["answer"] in q["options"] and a["p_expected"] == pytest.approx(0.8 if a["match"] else 0.1)
    assert memory.episodes.count("maya") == 20  # demo questions are not written to memory
    assert ("maya: before optimization 0 of 1 (mean p(expected option) 0.10)" in text
            and f"loss {o['initial_loss']:.3f} → {o['best_loss']:.3f}; 1 candidate(s) accepted, persona now v2" in text
            and "after optimization 1 of 1 (mean p(expected option) 0.80)" in text)
    assert "not a measure of how well it does it" in text and re.search(r"\(1 user\(s\) in \d+ min \d+ s\)$", text)


def test_when_nothing_is_accepted_the_demo_says_so_and_does_not_ask_again(tmp_path):
    memory = MemoryStore.open(tmp_path / "store", embedder=HashEmbeddingFunction())
    lines: list[str] = []
    plan = replace(FIRST_LOOK, users=("omar",), questions=1)
    model = ScriptedChatModel(script=persona_agent_script(lambda system, messages: distribution_reply({"A": 0.9, "B": 0.1})))
    [result] = run_demo(tmp_path, plan, say=lines.append, resources=Resources(memory=memory, agent_model=model))
    text = "\n".join(lines)
    assert result.optimization["accepted"] == 0 and result.answers_after == []
    assert "persona after: v1, unchanged" in text and "the questions were not asked again" in text
    assert "the same questions under persona" not in text


def test_the_full_demo_runs_the_three_users_at_the_optimizer_defaults():
    assert FULL.users == SAMPLE_USERS and FULL.questions == 3
    assert FULL.optimizer == OptimizerSettings(max_iters=1)
    assert len(FIRST_LOOK.users) == 1 and FIRST_LOOK.questions < FULL.questions


def test_demo_command_builds_its_plan_from_the_flags(tmp_path, monkeypatch, capsys):
    import personaagent.services.demo as demo

    plans = []
    monkeypatch.setattr(demo, "run_demo", lambda home, plan: plans.append(plan))
    assert main(["--home", str(tmp_path), "demo"]) == 0
    assert main(["--home", str(tmp_path), "demo", "--full"]) == 0
    assert main(["--home", str(tmp_path), "demo", "--full", "--users", "lena", "--optimize-iters", "0"]) == 0
    assert plans[:2] == [FIRST_LOOK, FULL]
    assert plans[2].users == ("lena",) and plans[2].questions == 3 and plans[2].optimizer.max_iters == 0
    assert main(["--home", str(tmp_path), "demo", "--users", "nobody"]) == 2
    assert "unknown sample user(s) ['nobody']" in capsys.readouterr().err


def test_demo_help_states_the_sizes_it_runs():
    help_text = " ".join(subprocess.run([sys.executable, "-m", "personaagent.cli", "demo", "--help"],
                                        capture_output=True, text=True).stdout.split())
    s = FIRST_LOOK.optimizer
    assert (f"By default: {FIRST_LOOK.users[0]}, {FIRST_LOOK.questions} question, the optimizer on her "
            f"{s.batch_size + s.validation_size} latest labelled interactions (batch {s.batch_size}, validation "
            f"{s.validation_size}) with {s.candidates} candidate.") in help_text
    s = FULL.optimizer
    assert (f"--full: maya, omar and lena, {FULL.questions} questions each, the optimizer's default batch "
            f"{s.batch_size}, validation {s.validation_size} and {s.candidates} candidates.") in help_text


def test_every_demo_question_and_history_line_states_its_options():
    for user, questions in demo_questions().items():
        for q in questions:
            assert q["expected"] in q["options"]
        for item in read_history(user, demo_file(f"{user}.jsonl")):
            assert item.options and item.ground_truth in item.options
