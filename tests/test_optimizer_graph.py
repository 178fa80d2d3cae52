"""Graph-level tests of the optimizer on scripted models: the continuous loss, reflection on the
batch and selection on the validation window, several candidates from edit operators, keep-best,
resume and conflicts."""

from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from personaagent import prompts
from personaagent.errors import PersonaAgentError
from personaagent.graphs.optimizer import build_optimizer_graph
from personaagent.memory import Interaction
from personaagent.persona.losses import Score
from personaagent.persona.sections import LOOKUPS, section
from personaagent.resources import Resources
from personaagent.testing import ScriptedChatModel, distribution_reply, persona_agent_script, tool_call

SNAPSHOT = Path(__file__).parent / "snapshots" / "optimizer_graph.mmd"
GOOD_LINES = "- GOOD: this user wants the right thing."


def persona_of(system: str) -> str:
    return system.split("## Retrieved")[0]


def scripted(rewrite=GOOD_LINES, answer_for=None, **roles):
    """Agent answers 'RIGHT' when the persona holds the word GOOD, else 'WRONG'. The section
    operator writes ``rewrite``; the edit operator has no usable edit unless ``edits`` is given."""
    def default(system, messages):
        return "RIGHT" if "GOOD" in persona_of(system) else "WRONG"

    return ScriptedChatModel(script=persona_agent_script(
        answer_for or default, critique="- How to serve this user: say what the user likes", rewrite=rewrite, **roles))


def right_metric(sample, answer):
    return Score(0.0 if answer == "RIGHT" else 1.0, f"said {answer}")


@pytest.fixture
def labelled(memory):
    memory.episodes.add([
        Interaction(user_id="alice", query=f"question {n} about hiking", ground_truth="RIGHT", timestamp=100.0 + n)
        for n in range(14)
    ])
    return memory


def run(memory, model, context, scorer=right_metric, checkpointer=None, thread="opt", **settings):
    settings.setdefault("operators", ["section"])
    settings.setdefault("candidates", 1)
    graph = build_optimizer_graph(Resources(memory=memory, agent_model=model, metric=scorer)).compile(
        checkpointer=checkpointer or InMemorySaver())
    return graph.invoke(settings, {"configurable": {"thread_id": thread}}, context=context)


def test_loss_falls_and_the_better_persona_is_kept(labelled, context_for):
    out = run(labelled, scripted(), context_for("alice"))
    assert (out["initial_loss"], out["best_loss"]) == (1.0, 0.0)
    assert [p["outcome"] for p in out["loss_curve"]] == ["baseline", "accepted"]
    assert out["loss_curve"][0]["batch_loss"] == 1.0 and out["loss_curve"][0]["validation_loss"] == 1.0
    assert (out["accepted"], out["rejected"], out["stop_reason"]) == (1, 0, "no_failures")
    stored = labelled.personas.latest("alice")
    assert (stored.version, stored.source, stored.parent, stored.loss, out["final_version"]) == (2, "optimizer", 1, 0.0, 2)
    assert stored.extra["operator"] == "section" and stored.critique.startswith("- How to serve")
    assert section(stored.text, "What you know about this user") == GOOD_LINES  # only that section changed
    assert section(stored.text, LOOKUPS) == section(labelled.personas.get("alice", 1).text, LOOKUPS)
    # what the critique saw and what selection judged on are in the output
    assert len(out["reflection"]) == 3 and len(out["selection"]) == 3 + 8
    [candidate] = out["pool"]
    assert (candidate["operator"], candidate["wins"], candidate["losses"], candidate["accepted"]) == ("section", 11, 0, True)
    assert candidate["change"] > 0 and out["loss_curve"][1]["change"] == candidate["change"]
    # 11 samples x 1 call, twice, plus the critique and the section rewrite
    assert out["model_calls"] == 11 + 1 + 1 + 11


def test_the_settings_are_one_channel_each_filled_in_once_and_read_back_as_one(labelled, context_for):
    from personaagent.nodes.optimizer import settings_of
    from personaagent.persona.settings import OptimizerSettings

    saver = InMemorySaver()
    graph = build_optimizer_graph(Resources(memory=labelled, agent_model=scripted(), metric=right_metric)).compile(
        checkpointer=saver)
    assert set(graph.get_input_jsonschema()["properties"]) == set(OptimizerSettings.model_fields)
    config = {"configurable": {"thread_id": "settings"}}
    out = graph.invoke({"batch_size": 2, "operators": ["section"], "candidates": 1}, config, context=context_for("alice"))
    values = graph.get_state(config).values
    # every setting in its channel, the left-out ones at their defaults, "auto" resolved
    expected = OptimizerSettings.of(batch_size=2, operators=["section"], candidates=1, metric="label")
    assert {name: values[name] for name in OptimizerSettings.model_fields} == expected.model_dump()
    assert settings_of(values) == expected and out["metric"] == "label" and "settings" not in values
    assert len(out["reflection"]) == 2  # the nodes ran under these settings


def test_a_candidate_that_wins_on_the_batch_but_loses_on_validation_is_rejected(labelled, context_for):
    labelled.personas.save("alice", "A persona that knows the older questions.", source="manual")
    batch = {f"question {n} about hiking" for n in range(11, 14)}

    def answer_for(system, messages):
        on_batch = messages[-1].content in batch
        if "BATCH-ONLY" in persona_of(system):
            return "RIGHT" if on_batch else "WRONG"
        return "WRONG" if on_batch else "RIGHT"

    out = run(labelled, scripted("- BATCH-ONLY: answer the latest questions", answer_for), context_for("alice"),
              max_iters=1)
    [candidate] = out["pool"]
    assert candidate["batch_improvement"] == 1.0 and candidate["validation_improvement"] == -1.0
    assert (candidate["wins"], candidate["losses"], candidate["passes"], candidate["accepted"]) == (3, 8, False, False)
    assert out["accepted"] == 0 and out["final_version"] == 1
    assert labelled.personas.latest("alice").text == "A persona that knows the older questions."


def test_the_critique_sees_only_the_batch_misses_worst_first(labelled, context_for):
    model = scripted()
    run(labelled, model, context_for("alice"), max_iters=1)
    [critique] = [c for c in model.calls if c["messages"][0].content.startswith(prompts.CRITIQUE_INSTRUCTION[:40])]
    requests = [line for line in critique["messages"][1].content.splitlines() if ". Request: " in line]
    assert [r.split("Request: ")[1] for r in requests] == [f"question {n} about hiking" for n in (11, 12, 13)]


def test_the_pool_keeps_the_current_persona_when_every_candidate_is_worse(labelled, context_for):
    half = lambda s, a: Score(0.5 if a == "RIGHT" else 1.0, a)  # noqa: E731
    labelled.personas.save("alice", "A GOOD persona already.", source="manual")
    edits = [{"action": "replace", "section": "(opening)", "line": "A GOOD persona already.", "text": "A worse one."}]
    out = run(labelled, scripted("- worse lines", edits=edits), context_for("alice"), scorer=half,
              operators=["edit", "section"], candidates=2, max_iters=1)
    assert [c["operator"] for c in out["pool"]] == ["edit", "section"]
    assert all(c["improvement"] == -0.5 and not c["accepted"] for c in out["pool"])
    assert [p["outcome"] for p in out["loss_curve"]] == ["baseline", "rejected"]
    assert (out["best_loss"], out["stop_reason"], out["final_version"], out["rejected"]) == (0.5, "max_iters", 1, 2)
    assert [v.text for v in labelled.personas.history("alice")] == ["A GOOD persona already."]


def test_the_best_of_several_candidates_is_accepted(labelled, context_for):
    def answer_for(system, messages):
        persona = persona_of(system)
        n = int(messages[-1].content.split()[1])
        if "GOOD" in persona:
            return "RIGHT"
        if "PARTLY" in persona:
            return "RIGHT" if n % 2 else "WRONG"
        return "WRONG"

    edits = [{"action": "add", "section": "How to serve this user", "text": "PARTLY right"}]
    out = run(labelled, scripted(GOOD_LINES, answer_for, edits=edits), context_for("alice"),
              operators=["edit", "section"], candidates=2, max_iters=1)
    edit, rewrite = out["pool"]
    assert edit["passes"] and rewrite["passes"] and rewrite["improvement"] > edit["improvement"]
    assert (edit["accepted"], rewrite["accepted"]) == (False, True)
    assert out["loss_curve"][1]["operator"] == "section" and out["accepted"] == 1


def test_plateau_stops_after_patience(labelled, context_for):
    out = run(labelled, scripted("- still bad"), context_for("alice"), max_iters=10, patience=2)
    assert [p["outcome"] for p in out["loss_curve"]] == ["baseline", "rejected", "rejected"]
    assert out["stop_reason"] == "plateau" and out["rejected"] == 2


def test_an_iteration_without_candidates_counts_toward_patience(labelled, context_for):
    out = run(labelled, scripted(), context_for("alice"), operators=["edit"], max_iters=5, patience=2)
    assert [p["outcome"] for p in out["loss_curve"]] == ["baseline", "no candidate", "no candidate"]
    assert out["stop_reason"] == "plateau" and out["pool"] == []


def test_budget_stops_the_run(labelled, context_for):
    out = run(labelled, scripted("- still bad"), context_for("alice"), max_iters=10, patience=10, max_calls=30)
    # baseline 11 calls; an iteration 13 more = 24; another (14) would pass 30
    assert out["stop_reason"] == "budget" and out["model_calls"] == 24 and len(out["loss_curve"]) == 2


def test_candidates_keep_the_lookup_rules_and_the_length_bound(labelled, context_for):
    long_lines = "\n".join(f"- GOOD fact number {n} about alice" for n in range(200))
    out = run(labelled, scripted(long_lines), context_for("alice"), max_persona_chars=900)
    stored = labelled.personas.latest("alice").text
    assert out["accepted"] == 1 and len(stored) <= 900
    assert section(stored, LOOKUPS) == section(labelled.personas.get("alice", 1).text, LOOKUPS)


def test_the_continuous_loss_orders_two_personas_that_give_the_same_answer(memory, context_for):
    options = ["museum", "beach", "mall"]
    memory.episodes.add([
        Interaction(user_id="alice", query=f"Trip {n}?", options=options, ground_truth="museum", timestamp=10.0 + n)
        for n in range(4)])

    def answer_for(system, messages):  # both personas pick the museum; the better one more surely
        sure = "SURE" in persona_of(system)
        return distribution_reply({"A": 0.9, "B": 0.05, "C": 0.05} if sure else {"A": 0.5, "B": 0.3, "C": 0.2})

    out = run(memory, scripted("- SURE: culture first", answer_for), context_for("alice", option_orders=1), scorer=None,
              batch_size=2, validation_size=2, max_iters=1)
    assert out["metric"] == "closed"
    assert out["initial_loss"] == pytest.approx(0.5) and out["best_loss"] == pytest.approx(0.1)
    assert out["accepted"] == 1  # the top answer never changed, the loss still fell


def test_rating_samples_use_the_expected_error(memory, context_for):
    scale = {"low": 0.5, "high": 5.0, "step": 0.5}
    memory.episodes.add([Interaction(user_id="alice", query=f"Rate film {n}", scale=scale, ground_truth="2",
                                     timestamp=10.0 + n) for n in range(3)])
    reply = distribution_reply({"2": 0.5, "3": 0.5})
    out = run(memory, scripted(answer_for=lambda s, m: reply), context_for("alice"), scorer=None,
              batch_size=1, validation_size=2, max_iters=0)
    assert out["metric"] == "closed" and out["initial_loss"] == pytest.approx(0.5)


@pytest.mark.parametrize("metric, accepted", [("auto", 0), ("median", 1)])
def test_the_median_loss_prefers_the_persona_whose_median_is_nearer(memory, context_for, metric, accepted):
    # The user rates 4. The current persona answers a sure 3 (expected error 1.0, median 3.0); the
    # candidate splits 0.55 on 4 and 0.45 on 1 (expected error 1.35, interpolated median
    # 3.5 + 0.05 / 0.55 = 3.59, error 0.41): the expected error keeps the current persona, the
    # median loss takes the candidate.
    scale = {"low": 0.5, "high": 5.0, "step": 0.5}
    memory.episodes.add([Interaction(user_id="alice", query=f"Rate film {n}", scale=scale, ground_truth="4",
                                     timestamp=10.0 + n) for n in range(4)])

    def answer_for(system, messages):
        return distribution_reply({"4": 0.55, "1": 0.45} if "SURE" in persona_of(system) else {"3": 1.0})

    out = run(memory, scripted("- SURE: rates what it loves high", answer_for), context_for("alice"), scorer=None,
              batch_size=2, validation_size=2, max_iters=1, metric=metric)
    assert out["metric"] == ("closed" if metric == "auto" else "median")
    assert out["initial_loss"] == pytest.approx(1.0)
    assert out["accepted"] == accepted
    assert out["best_loss"] == pytest.approx(1.0 if metric == "auto" else 4 - (3.5 + 0.05 / 0.55))


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

    graph = build_optimizer_graph(Resources(memory=memory, agent_model=scripted(answer_for=answer_for), metric=right_metric))
    final = graph.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "leak"}}
    final.invoke({"batch_size": 2, "validation_size": 0, "max_iters": 1, "operators": ["section"]}, config,
                 context=context_for("alice"))
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


def test_evidence_and_examples_come_only_from_before_the_judged_samples(memory, context_for):
    memory.episodes.add(
        [Interaction(user_id="alice", query=f"old pick {n}", options=["tea", "coffee"], ground_truth="tea",
                     timestamp=float(n)) for n in range(4)]
        + [Interaction(user_id="alice", query=f"judged pick {n}", options=["tea", "JUDGED-SECRET"],
                       ground_truth="JUDGED-SECRET", timestamp=10.0 + n) for n in range(3)])
    seen = []

    def answer_for(system, messages):
        seen.append(persona_of(system))
        return distribution_reply({"A": 0.5, "B": 0.5})

    run(memory, scripted(answer_for=answer_for), context_for("alice"), scorer=None, batch_size=2,
        validation_size=1, operators=["evidence", "examples"], candidates=2, max_iters=1)
    candidates = [p for p in seen if "## Evidence" in p or "## Examples" in p]
    assert any("## Evidence from this user's history" in p and 'Chose "tea"' in p for p in candidates)
    assert any("## Examples of this user's past choices" in p and "old pick" in p for p in candidates)
    assert all("JUDGED-SECRET" not in p for p in candidates)


def test_resume_after_an_exception_mid_run(labelled, context_for):
    crash = {"armed": True}
    inner = scripted(edits=[{"action": "add", "section": "How to serve this user", "text": "Be brief."}])

    def flaky(messages, kwargs):
        if crash["armed"] and messages[0].content.startswith(prompts.SECTION_INSTRUCTION[:20]):
            raise RuntimeError("model server went away")
        return inner.script(messages, kwargs)

    model = ScriptedChatModel(script=flaky)
    saver = InMemorySaver()
    graph = build_optimizer_graph(Resources(memory=labelled, agent_model=model, metric=right_metric)).compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "resume"}}
    settings = {"operators": ["edit", "section"], "candidates": 2}
    with pytest.raises(RuntimeError, match="went away"):
        graph.invoke(settings, config, context=context_for("alice"))
    assert graph.get_state(config).next == ("rewrite",)
    assert [v.version for v in labelled.personas.history("alice")] == [1]  # nothing half-written
    calls_before = len(model.calls)
    crash["armed"] = False
    out = graph.invoke(None, config, context=context_for("alice"))
    assert out["accepted"] == 1 and labelled.personas.latest("alice").version == 2
    # resumed at rewrite: the baseline and the critique did not run again; the edit and the
    # section rewrite did, then both candidates' 11 simulations
    assert len(model.calls) - calls_before == 2 + 2 * 11
    assert [r["status"] for r in labelled.runs.history("alice")] == ["finished"]


def test_a_persona_changed_during_the_run_is_not_overwritten(labelled, context_for):
    from personaagent.errors import PersonaConflict

    def answer_for(system, messages):
        if labelled.personas.latest("alice").version == 1 and "GOOD" in persona_of(system):
            labelled.personas.save("alice", "edited by hand meanwhile", source="manual")
        return "RIGHT" if "GOOD" in persona_of(system) else "WRONG"

    edits = [{"action": "add", "section": "How to serve this user", "text": "Be brief."}]
    out = run(labelled, scripted(answer_for=answer_for, edits=edits), context_for("alice"), operators=["edit", "section"],
              candidates=2)
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


def test_no_labelled_interactions_or_bad_settings_are_clear_errors(memory, labelled, context_for):
    with pytest.raises(PersonaAgentError, match="no labelled interactions"):
        run(memory, scripted(), context_for("bob"))
    with pytest.raises(PersonaAgentError, match="batch_size"):
        run(labelled, scripted(), context_for("alice"), batch_size=0)
    with pytest.raises(PersonaAgentError, match="operators"):
        run(labelled, scripted(), context_for("alice"), operators=["telepathy"])


def test_auto_metric_picks_closed_label_and_rating(memory, context_for):
    from personaagent.persona.losses import choose_metric, label_match, rating_error

    assert choose_metric("auto", [{"query": "q", "ground_truth": "a", "options": ["a", "b"]}]) == "closed"
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
    from personaagent.persona.losses import make_judge

    judge_model = ScriptedChatModel(script=[tool_call("Judgement", score=0.8, difference="a bit long")])
    score = make_judge(judge_model)({"query": "q", "ground_truth": "short answer"}, "a long answer")
    assert (round(score.loss, 6), score.feedback, score.model_calls) == (0.2, "a bit long", 1)
    from personaagent.models.resilience import model_retry

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


def test_the_lookups_operator_lets_alignment_change_what_the_agent_reads(memory, context_for):
    from personaagent.memory import KnowledgeItem
    from personaagent.persona.sections import lookup_rules

    scale = {"low": 0.5, "high": 5.0, "step": 0.5}
    memory.episodes.add([Interaction(user_id="alice", query=f"Rate film {n}", scale=scale, ground_truth="2",
                                     timestamp=10.0 + n) for n in range(6)])

    def answer_for(system, messages):  # right when the catalogue's figures are in the prompt
        return distribution_reply({"2": 1.0} if "CATALOGUE" in system else {"4": 1.0})

    out = run(memory, scripted(answer_for=answer_for), context_for("alice"), scorer=None, operators=["lookups"],
              batch_size=2, validation_size=4, max_iters=1)
    assert out["pool"] == [] and out["accepted"] == 0  # an empty knowledge collection: nothing to read
    memory.knowledge.add("alice", [KnowledgeItem(id=f"f{n}", text=f"CATALOGUE film {n}: others rate it 2") for n in range(6)])
    out = run(memory, scripted(answer_for=answer_for), context_for("alice"), scorer=None, operators=["lookups"],
              batch_size=2, validation_size=4, max_iters=1, thread="again")
    assert out["accepted"] == 1 and out["pool"][0]["note"] == "reads knowledge on rating requests"
    stored = memory.personas.latest("alice").text
    assert lookup_rules(stored)["knowledge"] == {"choice", "rating", "open"}
    assert lookup_rules(stored)["profile"] == lookup_rules(memory.personas.get("alice", 1).text)["profile"]
