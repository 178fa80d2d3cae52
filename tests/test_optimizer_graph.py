"""Graph-level tests of the optimizer on scripted models."""

from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from personaagent import prompts
from personaagent.nodes.optimizer import lookup_rules_text
from personaagent.errors import PersonaAgentError
from personaagent.graphs.optimizer import build_optimizer_graph
from personaagent.memory import Interaction
from personaagent.metrics import Score
from personaagent.resources import Resources
from personaagent.testing import ScriptedChatModel, persona_agent_script, tool_call

SNAPSHOT = Path(__file__).parent / "snapshots" / "optimizer_graph.mmd"


def scripted(rewrites, answer_for=None):
    """Agent answers 'RIGHT' when the persona holds the word GOOD, else 'WRONG'. Critiques are
    fixed; rewrites come from ``rewrites`` in order (the last one repeats)."""
    def default(system, messages):
        return "RIGHT" if "GOOD" in system.split("## Retrieved")[0] else "WRONG"

    return ScriptedChatModel(script=persona_agent_script(
        answer_for or default, critique="- mention what the user likes", rewrite=rewrites))


def right_metric(sample, answer):
    return Score(0.0 if answer == "RIGHT" else 1.0, f"said {answer}")


@pytest.fixture
def labelled(memory):
    memory.episodes.add([
        Interaction(user_id="alice", query=f"question {n} about hiking", ground_truth="RIGHT", timestamp=100.0 + n)
        for n in range(6)
    ])
    return memory


def run(memory, model, context, metric=right_metric, checkpointer=None, thread="opt", **inputs):
    graph = build_optimizer_graph(Resources(memory=memory, agent_model=model, metric=metric)).compile(
        checkpointer=checkpointer or InMemorySaver())
    return graph.invoke(inputs, {"configurable": {"thread_id": thread}}, context=context)


def test_loss_falls_and_the_better_persona_is_kept(labelled, context_for):
    out = run(labelled, scripted(["A GOOD persona for alice."]), context_for("alice"))
    assert (out["initial_loss"], out["best_loss"]) == (1.0, 0.0)
    assert [p["outcome"] for p in out["loss_curve"]] == ["baseline", "accepted"]
    assert out["loss_curve"][0]["batch_loss"] == 1.0 and out["loss_curve"][0]["holdout_loss"] == 1.0
    assert (out["accepted"], out["rejected"], out["stop_reason"]) == (1, 0, "no_failures")
    stored = labelled.personas.latest("alice")
    assert (stored.version, stored.source, stored.parent, stored.loss, out["final_version"]) == (2, "optimizer", 1, 0.0, 2)
    rules = lookup_rules_text(labelled.personas.get("alice", 1).text)
    assert stored.text.startswith("A GOOD persona for alice.") and rules and stored.text.endswith(rules)
    assert stored.critique == "- mention what the user likes"
    # 5 samples x 1 call, twice, plus critique and rewrite
    assert out["model_calls"] == 12


def test_worse_candidate_is_rejected_and_stored_persona_unchanged(labelled, context_for):
    labelled.personas.save("alice", "A GOOD persona already.", source="manual")
    out = run(labelled, scripted(["a bad persona"]), context_for("alice"),
              metric=lambda s, a: (0.0 if a == "RIGHT" else 1.0, a) if s["id"] != "never" else None,
              max_iters=1)
    # every sample already right: nothing to improve, no model call for critique/rewrite
    assert out["stop_reason"] == "no_failures" and out["model_calls"] == 5

    half = lambda s, a: Score(0.5 if a == "RIGHT" else 1.0, a)  # noqa: E731
    out = run(labelled, scripted(["a bad persona"]), context_for("alice"), metric=half, thread="o2", max_iters=1)
    assert [p["outcome"] for p in out["loss_curve"]] == ["baseline", "rejected"]
    assert out["rejected_candidates"][0]["loss"] == 1.0 and out["rejected_candidates"][0]["persona"].startswith("a bad")
    assert (out["best_loss"], out["stop_reason"], out["final_version"]) == (0.5, "max_iters", 1)
    assert [v.text for v in labelled.personas.history("alice")] == ["A GOOD persona already."]


def test_plateau_stops_after_patience(labelled, context_for):
    out = run(labelled, scripted(["still bad"]), context_for("alice"), max_iters=10, patience=2)
    assert [p["outcome"] for p in out["loss_curve"]] == ["baseline", "rejected", "rejected"]
    assert out["stop_reason"] == "plateau" and out["rejected"] == 2


def test_budget_stops_the_run(labelled, context_for):
    out = run(labelled, scripted(["still bad"]), context_for("alice"), max_iters=10, patience=10, max_calls=15)
    # baseline 5 calls; one iteration 7 more = 12; another would pass 15
    assert out["stop_reason"] == "budget" and out["model_calls"] == 12 and len(out["loss_curve"]) == 2


def test_rewrite_keeps_tool_rules_and_respects_the_length_bound(labelled, context_for):
    long_body = "You are alice's assistant. GOOD\n" + "\n".join(f"- fact number {n} about alice" for n in range(200))
    out = run(labelled, scripted([long_body]), context_for("alice"), max_persona_chars=800)
    stored = labelled.personas.latest("alice").text
    assert out["accepted"] == 1 and len(stored) <= 800
    rules = lookup_rules_text(labelled.personas.get("alice", 1).text)
    assert stored.endswith(rules) and stored.count(rules) == 1


def test_simulations_never_retrieve_the_answer(memory, context_for):
    memory.episodes.add([
        Interaction(user_id="alice", query="old question about zebras", ground_truth="old answer", timestamp=10.0),
        Interaction(user_id="alice", query="which zebra facts do I like", ground_truth="ZEBRA-SECRET-42", timestamp=20.0),
        Interaction(user_id="alice", query="later zebra question", ground_truth="LATER-ZEBRA-99", timestamp=30.0),
    ])
    memory.profiles.save("alice", "PROFILE-MARKER summarising all interactions", source="summary")
    memory.personas.save("alice", "plain persona", source="manual")
    captured = []

    def answer_for(system, messages):
        captured.append((messages[-1].content, system))
        return "WRONG"

    graph = build_optimizer_graph(Resources(memory=memory, agent_model=scripted(["x"], answer_for), metric=right_metric))
    final = graph.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "leak"}}
    final.invoke({"batch_size": 2, "holdout_size": 0, "max_iters": 1}, config, context=context_for("alice"))
    sims = final.get_state(config).values["simulations"]
    secret_sim = next(s for s in sims if s["ground_truth"] == "ZEBRA-SECRET-42")
    seen = repr(secret_sim["retrieved"]) + repr(secret_sim["tool_outputs"])
    assert "old answer" in seen  # older memories are retrievable
    assert "ZEBRA-SECRET-42" not in seen and "LATER-ZEBRA-99" not in seen
    secret_prompts = [system for query, system in captured if query == "which zebra facts do I like"]
    assert secret_prompts and all("ZEBRA-SECRET-42" not in s and "LATER-ZEBRA-99" not in s for s in secret_prompts)
    # the stored profile summarises later interactions too, so simulations do not get it
    assert all("PROFILE-MARKER" not in system for _, system in captured)
    assert memory.episodes.count("alice") == 3  # simulations wrote nothing


def test_resume_after_an_exception_mid_run(labelled, context_for):
    crash = {"armed": True}
    inner = scripted(["A GOOD persona."])

    def flaky(messages, kwargs):
        if crash["armed"] and messages[0].content.startswith(prompts.REWRITE_INSTRUCTION[:30]):
            raise RuntimeError("model server went away")
        return inner.script(messages, kwargs)

    model = ScriptedChatModel(script=flaky)
    saver = InMemorySaver()
    graph = build_optimizer_graph(Resources(memory=labelled, agent_model=model, metric=right_metric)).compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "resume"}}
    with pytest.raises(RuntimeError, match="went away"):
        graph.invoke({}, config, context=context_for("alice"))
    assert graph.get_state(config).next == ("rewrite",)
    assert [v.version for v in labelled.personas.history("alice")] == [1]  # nothing half-written
    calls_before = len(model.calls)
    crash["armed"] = False
    out = graph.invoke(None, config, context=context_for("alice"))
    assert out["accepted"] == 1 and labelled.personas.latest("alice").version == 2
    # resumed from rewrite: the baseline simulations and the critique did not run again
    assert len(model.calls) - calls_before == 1 + 5
    assert [r["status"] for r in labelled.runs.history("alice")] == ["finished"]


def test_a_persona_changed_during_the_run_is_not_overwritten(labelled, context_for):
    from personaagent.errors import PersonaConflict

    def answer_for(system, messages):
        if labelled.personas.latest("alice").version == 1 and "GOOD" in system:
            labelled.personas.save("alice", "edited by hand meanwhile", source="manual")
        return "RIGHT" if "GOOD" in system.split("## Retrieved")[0] else "WRONG"

    out = run(labelled, scripted(["GOOD"], answer_for), context_for("alice"))
    assert out["stop_reason"] == "conflict" and [p["outcome"] for p in out["loss_curve"]] == ["baseline", "conflict"]
    assert (out["accepted"], out["final_version"]) == (0, 1)
    assert labelled.personas.latest("alice").text == "edited by hand meanwhile"
    with pytest.raises(PersonaConflict, match="changed during optimization"):
        labelled.save_optimized_persona("alice", "GOOD", 1, loss=0.0, critique="", run_marker="other:1")


def test_rollback_creates_a_new_version_with_the_old_text(labelled):
    first = labelled.current_persona("alice")
    labelled.personas.save("alice", "optimized", source="optimizer", parent=1, loss=0.2)
    back = labelled.rollback_persona("alice", 1)
    assert (back.version, back.source, back.parent, back.text) == (3, "rollback", 2, first.text)
    assert back.extra["rolled_back_to"] == 1
    from personaagent.errors import UnknownVersion

    with pytest.raises(UnknownVersion):
        labelled.rollback_persona("alice", 9)
    assert len(labelled.personas.history("alice")) == 3


def test_no_labelled_interactions_is_a_clear_error(memory, context_for):
    with pytest.raises(PersonaAgentError, match="no labelled interactions"):
        run(memory, scripted(["x"]), context_for("alice"))


def test_auto_metric_picks_label_and_rating(memory, context_for):
    from personaagent.metrics import choose_metric, label_match, rating_error

    assert choose_metric("auto", [{"query": "q", "ground_truth": "4.5"}, {"query": "q", "ground_truth": "3"}]) == "rating"
    assert choose_metric("auto", [{"query": "q", "ground_truth": "Blade Runner 2049"}]) == "label"
    assert choose_metric("auto", [{"query": "q", "ground_truth": "a long free text answer " * 3}]) == "judge"
    option = "a small acoustic folk night at the village hall"
    assert choose_metric("auto", [{"query": f"Tonight: {option} or a rave?", "ground_truth": option}]) == "label"
    with pytest.raises(PersonaAgentError, match="unknown metric"):
        choose_metric("f1", [])
    assert label_match({"ground_truth": "Seoul"}, "seoul.\nBecause cities").loss == 0.0
    assert label_match({"ground_truth": "Seoul"}, "Busan").loss == 1.0
    assert rating_error({"ground_truth": "4.0"}, "I'd say 3.5 stars").loss == 0.5
    assert rating_error({"ground_truth": "4.0"}, "no idea").loss == 1.25  # scored as the midpoint 2.75


def test_llm_judge_metric_uses_structured_output():
    from personaagent.metrics import make_judge

    judge_model = ScriptedChatModel(script=[tool_call("Judgement", score=0.8, difference="a bit long")])
    score = make_judge(judge_model)({"query": "q", "ground_truth": "short answer"}, "a long answer")
    assert (round(score.loss, 6), score.feedback, score.model_calls) == (0.2, "a bit long", 1)
    from personaagent.resilience import model_retry

    silent = ScriptedChatModel(script=["I refuse to call tools"] * 2)
    with pytest.raises(PersonaAgentError, match="no structured verdict"):  # retried, then named
        make_judge(silent, model_retry(max_attempts=2, initial_interval=0.001))({"query": "q", "ground_truth": "x"}, "y")
    assert len(silent.calls) == 2
    recovers = ScriptedChatModel(script=["no verdict", tool_call("Judgement", score=1.0, difference="same")])
    fast = model_retry(max_attempts=2, initial_interval=0.001)
    assert make_judge(recovers, fast)({"query": "q", "ground_truth": "x"}, "x").loss == 0.0


def test_topology_snapshot():
    from personaagent.graphs.optimizer import graph

    mermaid = graph.get_graph(xray=True).draw_mermaid()
    assert SNAPSHOT.exists(), f"no snapshot: review this drawing and commit it as {SNAPSHOT}:\n{mermaid}"
    assert mermaid == SNAPSHOT.read_text()
    assert "simulate\\3aagent\\3aretrieve_memory" in mermaid  # the agent is drawn inside simulate
