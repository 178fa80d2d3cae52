import threading
import time

import pytest
from langchain_core.messages import HumanMessage

from personaagent.cli import main
from personaagent.context import Context
from personaagent.graphs.agent import build_agent_graph
from personaagent.memory import Interaction, MemoryStore
from personaagent.services.scheduling import OptimizationScheduler, maybe_schedule
from personaagent.resources import Resources
from personaagent.persona.settings import OptimizerSettings
from personaagent import prompts
from personaagent.persona.sections import section
from personaagent.testing import HashEmbeddingFunction, ScriptedChatModel, persona_agent_script


def responder():
    return persona_agent_script(lambda system, messages: "RIGHT" if "GOOD" in system.split("## Retrieved")[0] else "WRONG",
                                critique="- be specific", rewrite="- GOOD: this user likes the right answer")


def labelled(store, user):
    store.episodes.add([Interaction(user_id=user, query=f"q{n}", ground_truth="RIGHT", timestamp=float(n))
                        for n in range(5)])


def cli_setup(tmp_path, monkeypatch, model) -> MemoryStore:
    """The CLI's models replaced by ``model``; alice has 5 labelled interactions in HOME=tmp_path."""
    monkeypatch.setattr(Resources, "agent_model_for", lambda self, ctx: model)
    monkeypatch.setattr(Resources, "optimizer_model_for", lambda self, ctx: model)
    store = MemoryStore.open(tmp_path / "chroma")
    labelled(store, "alice")
    return store


def test_optimize_rollback_diff_and_runs_commands(tmp_path, monkeypatch, capsys):
    model = ScriptedChatModel(script=responder())
    store = cli_setup(tmp_path, monkeypatch, model)
    home = str(tmp_path)
    assert main(["--home", home, "optimize", "--user", "alice", "--iters", "2", "--validation", "2",
                 "--operators", "section", "--candidates", "1"]) == 0
    out = capsys.readouterr().out
    assert "metric: label   stop: no_failures   accepted: 1   rejected: 0" in out
    assert "critique saw 3 sample(s); selection judged on 5" in out
    assert "iter 0: loss 1.000  (batch 1.000  validation 1.000)  baseline" in out
    assert "iter 1: loss 0.000  (batch 0.000  validation 0.000)  accepted (section, " in out
    assert "loss 1.000 → 0.000; current persona v2" in out
    assert main(["--home", home, "persona", "diff", "--user", "alice", "1", "2"]) == 0
    diff = capsys.readouterr().out
    assert "--- alice v1" in diff and "+- GOOD: this user likes the right answer" in diff
    assert main(["--home", home, "persona", "rollback", "--user", "alice", "--to", "1"]) == 0
    assert "now v3 (a copy of v1)" in capsys.readouterr().out
    assert store.personas.latest("alice").text == store.personas.get("alice", 1).text
    assert main(["--home", home, "persona", "rollback", "--user", "alice", "--to", "8"]) == 2
    assert "persona version 8 does not exist" in capsys.readouterr().err
    assert main(["--home", home, "runs", "--user", "alice"]) == 0
    assert "manual    finished  loss 1.0 → 0.0, no_failures" in capsys.readouterr().out


def test_each_decided_round_reaches_the_progress_callback_and_the_cli_bar(tmp_path, monkeypatch, capsys):
    from personaagent.services.optimize import run_optimizer

    model = ScriptedChatModel(script=responder())
    store = cli_setup(tmp_path, monkeypatch, model)
    points = []
    summary = run_optimizer(Context(user_id="alice"), Resources(memory=store, agent_model=model, optimizer_model=model),
                            OptimizerSettings.of(max_iters=2, operators=["section"], candidates=1),
                            on_iteration=points.append)
    assert [p["outcome"] for p in points] == ["baseline", "accepted"] and points == summary["loss_curve"]
    capsys.readouterr()
    assert main(["--home", str(tmp_path), "optimize", "--user", "alice", "--iters", "1", "--operators", "section",
                 "--candidates", "1"]) == 0
    assert "iter 0: loss 0.000 (baseline)" in capsys.readouterr().err  # the bar moved to the baseline


class InFlight(ScriptedChatModel):
    """A scripted model that records how many of its calls were in flight at once."""

    most: int = 0
    now: int = 0

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            return super()._generate(messages, stop, run_manager, **kwargs)
        finally:
            with self._lock:
                self.now -= 1


@pytest.mark.parametrize("embedded", [True, False])
def test_on_the_embedded_model_the_optimizer_simulates_one_sample_at_a_time(memory, embedded, monkeypatch):
    from personaagent.services.optimize import run_optimizer

    labelled(memory, "alice")
    model = InFlight(script=responder(), latency_s=0.05)
    monkeypatch.setattr(Resources, "embedded", lambda self, context: embedded)  # its calls go to the scripted model
    run_optimizer(Context(user_id="alice"), Resources(memory=memory, agent_model=model),
                  OptimizerSettings.of(max_iters=1, operators=["section"], candidates=1, validation_size=2))
    assert (model.most == 1) if embedded else (model.most > 1)


def test_only_the_embedded_model_limits_the_calls_at_once():
    assert Resources().calls_at_once_for(Context(model_base_url="", model_api_key="")) == 1
    assert Resources().calls_at_once_for(Context(model_base_url="http://127.0.0.1:8000/v1")) is None
    assert Resources(agent_model=ScriptedChatModel()).calls_at_once_for(Context(model_base_url="")) is None


def test_optimize_many_users_from_the_cli(tmp_path, monkeypatch, capsys):
    store = cli_setup(tmp_path, monkeypatch, ScriptedChatModel(script=responder()))
    labelled(store, "bob")
    assert main(["--home", str(tmp_path), "optimize", "--users", "alice,bob,nobody", "--concurrency", "2", "--iters", "1"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert sorted(lines[:3]) == ["alice: loss 1.000 → 0.000, 1 accepted, stop no_failures, persona v2",
                                 "bob: loss 1.000 → 0.000, 1 accepted, stop no_failures, persona v2",
                                 "nobody: failed: user 'nobody' has no labelled interactions (with a ground truth) to optimize on"]
    assert lines[3] == "2 of 3 users optimized"
    with pytest.raises(SystemExit) as both:  # --user and --users exclude each other
        main(["--home", str(tmp_path), "optimize", "--users", "alice", "--user", "bob"])
    assert both.value.code == 2


def test_optimize_without_labels_fails_clearly(tmp_path, capsys):
    assert main(["--home", str(tmp_path), "optimize", "--user", "nobody"]) == 2
    assert "no labelled interactions" in capsys.readouterr().err


def test_the_caller_schedules_one_debounced_background_run_after_labelled_turns(tmp_path):
    memory = MemoryStore.open(tmp_path / "chroma", embedder=HashEmbeddingFunction())
    release = threading.Event()
    inner = responder()

    def respond(messages, kwargs):
        if messages[0].content.startswith(prompts.CRITIQUE_INSTRUCTION[:30]):
            release.wait(10)  # the optimization blocks here until the chat turns are done
        return inner(messages, kwargs)

    scheduler = OptimizationScheduler(debounce_s=1.0)  # longer than the 4 turns take
    resources = Resources(memory=memory, agent_model=ScriptedChatModel(script=respond))
    graph = build_agent_graph(resources).compile()
    ctx = Context(user_id="alice", chroma_path=str(tmp_path / "chroma"), optimize_every=2, profile_every=1000)
    graph.invoke({"messages": [HumanMessage("question 0")], "ground_truth": "RIGHT"}, context=ctx)
    graph.invoke({"messages": [HumanMessage("question 1")], "ground_truth": "RIGHT"}, context=ctx)
    assert memory.runs.history("alice") == [] and not scheduler._pending  # the graph itself starts nothing
    assert maybe_schedule(ctx, resources, scheduler) is not None  # 2 labelled turns: due
    for n in range(2, 4):
        graph.invoke({"messages": [HumanMessage(f"question {n}")], "ground_truth": "RIGHT"}, context=ctx)
        assert maybe_schedule(ctx, resources, scheduler) is None  # one is pending: dropped
    # the turns returned while the optimization is still blocked: it runs off the response path
    deadline = time.monotonic() + 10
    while not memory.runs.history("alice") and time.monotonic() < deadline:
        time.sleep(0.05)
    runs = memory.runs.history("alice")
    assert [r["status"] for r in runs] == ["running"] and runs[0]["trigger"] == "scheduled"
    release.set()
    scheduler.wait(timeout=30)
    runs = memory.runs.history("alice")
    assert [r["status"] for r in runs] == ["finished"]  # turns 2, 3 and 4 were debounced into one run
    assert memory.personas.latest("alice").source == "optimizer"
    assert not memory.optimization_due("alice", 1)


def test_failed_background_run_is_marked_in_the_run_log(tmp_path):
    memory = MemoryStore.open(tmp_path / "chroma", embedder=HashEmbeddingFunction())
    memory.episodes.add([Interaction(user_id="bob", query="q", ground_truth="RIGHT", timestamp=1.0)])

    def broken(messages, kwargs):
        raise RuntimeError("endpoint down")

    scheduler = OptimizationScheduler(debounce_s=0)
    ctx = Context(user_id="bob", chroma_path=str(tmp_path / "chroma"))
    future = scheduler.schedule(ctx, Resources(memory=memory, agent_model=ScriptedChatModel(script=broken)))
    with pytest.raises(RuntimeError, match="endpoint down"):
        future.result(timeout=30)
    assert memory.runs.history("bob")[0]["status"] == "failed: endpoint down"


def test_cli_resumes_an_interrupted_run_or_restarts_it(tmp_path, monkeypatch, capsys):
    crash = {"armed": True}
    inner = responder()

    def flaky(messages, kwargs):
        if crash["armed"] and messages[0].content.startswith(prompts.SECTION_INSTRUCTION[:20]):
            raise RuntimeError("model server went away")
        return inner(messages, kwargs)

    model = ScriptedChatModel(script=flaky)
    store = cli_setup(tmp_path, monkeypatch, model)
    home = str(tmp_path)
    with pytest.raises(RuntimeError, match="went away"):
        main(["--home", home, "optimize", "--user", "alice"])
    crash["armed"] = False
    calls = len(model.calls)
    assert main(["--home", home, "optimize", "--user", "alice"]) == 0  # resumes at rewrite
    # the edit call (no usable edit in this script) and the section rewrite again, then 5 simulations
    # for each of the two candidates (prune, which needs no model call, and section)
    assert len(model.calls) - calls == 2 + 2 * 5 and "accepted: 1" in capsys.readouterr().out
    assert [r["status"] for r in store.runs.history("alice")] == ["finished"]

    labelled(store, "bob")
    crash["armed"] = True
    with pytest.raises(RuntimeError):
        main(["--home", home, "optimize", "--user", "bob"])
    crash["armed"] = False
    calls = len(model.calls)
    assert main(["--home", home, "optimize", "--user", "bob", "--restart"]) == 0
    # started over: baseline, critique, edit, section, then the two candidates (prune, section)
    assert len(model.calls) - calls == 5 + 3 + 2 * 5
    assert [r["status"] for r in store.runs.history("bob")] == ["abandoned", "finished"]


def test_optimize_users_runs_many_and_reports_each_failure(memory, context_for):
    from personaagent.errors import PersonaAgentError
    from personaagent.services.optimize import optimize_users
    from personaagent.resources import Resources
    from personaagent.testing import ScriptedChatModel, persona_agent_script

    for user in ("u1", "u2"):
        memory.episodes.add([Interaction(user_id=user, query=f"q{n}", ground_truth="RIGHT", timestamp=float(n)) for n in range(4)])
    model = ScriptedChatModel(script=persona_agent_script(
        lambda system, messages: "RIGHT" if "GOOD" in system.split("## Retrieved")[0] else "WRONG", rewrite="- GOOD one."))
    done = []
    results = optimize_users([context_for(u) for u in ("u1", "u2", "nobody")],
                             Resources(memory=memory, agent_model=model), {"max_iters": 1}, concurrency=3,
                             on_done=lambda user, result: done.append(user))
    assert sorted(done) == ["nobody", "u1", "u2"]
    assert results["u1"]["accepted"] == results["u2"]["accepted"] == 1
    assert isinstance(results["nobody"], PersonaAgentError) and "no labelled interactions" in str(results["nobody"])
    assert section(memory.personas.latest("u1").text, "What you know about this user") == "- GOOD one."


def test_the_metric_flags_reach_the_optimizer_settings():
    from personaagent.cli import build_parser
    from personaagent.cli.optimize import settings_of

    parser = build_parser()
    assert settings_of(parser.parse_args(["optimize", "--user", "alice", "--metric", "median"])).metric == "median"
    assert settings_of(parser.parse_args(["optimize", "--user", "alice"])).metric == "auto"
    with pytest.raises(SystemExit):  # an unknown loss is refused by the parser, naming the choices
        parser.parse_args(["optimize", "--user", "alice", "--metric", "rmse"])
    from personaagent.cli.evaluation import optimizer_settings

    assert optimizer_settings(parser.parse_args(["eval", "movielens", "--metric", "median"])).metric == "median"
    assert optimizer_settings(parser.parse_args(["eval", "movielens"])) == OptimizerSettings()  # same rung keys


def test_the_cli_and_the_library_optimize_the_same_number_of_users_at_once():
    import inspect

    from personaagent.cli import build_parser
    from personaagent.services.optimize import optimize_users

    library = inspect.signature(optimize_users).parameters["concurrency"].default
    assert build_parser().parse_args(["optimize", "--users", "a,b"]).concurrency == library
