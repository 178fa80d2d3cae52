"""`personaagent demo`: sample users with different tastes, answered by the agent graph.

The first look (``FIRST_LOOK``, the default) takes one user, one question and one optimizer
iteration on the user's two latest labelled interactions with one candidate; ``FULL`` takes the
three users, three questions each and one iteration at the optimizer's default sizes.

For each user: ingest their 20 labelled interactions and the shared item catalogue, summarise a
profile, build the initial persona, answer new questions while showing what the graph did
(retrieved memories, lookups, each answer's distribution over its options), optimize the persona
on the user's latest labelled interactions, print the loss before and after and what changed in
the persona, and, when it changed, answer the same questions again. Questions are asked with
``record=False`` so the expected answers never enter memory.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from ..context import Context
from ..graphs.agent import build_agent_graph
from ..memory import MemoryStore, read_history, read_knowledge
from ..persona.settings import OptimizerSettings
from ..resources import Resources

SAMPLE_USERS = ("maya", "omar", "lena")


@dataclass(frozen=True)
class DemoPlan:
    """Who the demo runs, how many questions each, and the optimizer's settings (``max_iters``
    0: no optimization)."""

    users: tuple[str, ...]
    questions: int
    optimizer: OptimizerSettings


FIRST_LOOK = DemoPlan(("maya",), 1, OptimizerSettings(max_iters=1, batch_size=1, validation_size=1, candidates=1))
FULL = DemoPlan(SAMPLE_USERS, 3, OptimizerSettings(max_iters=1))


def demo_file(name: str) -> Path:
    return Path(__file__).parents[1] / "demo_data" / name


def demo_questions() -> dict[str, list[dict]]:
    return json.loads(demo_file("questions.json").read_text())


@dataclass
class DemoResult:
    user: str
    persona: str
    answers: list[dict] = field(default_factory=list)
    optimization: dict | None = None
    answers_after: list[dict] = field(default_factory=list)


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _show_update(node: str, update: dict, say: Callable[[str], None]) -> None:
    if node == "retrieve_memory":
        say(f"  retrieve_memory: {len(update['retrieved'])} memories, persona v{update['persona_version']}")
        for item in update["retrieved"][:3]:
            say(f"    · {item['query'][:90]}  → {item.get('ground_truth') or item.get('answer')}")
    elif node == "look_up":
        say(f"  look_up: {', '.join(update['sources']) or 'nothing'} (as the persona's lookup rules ask)")
    elif node == "reason":
        for message in update["messages"]:
            if isinstance(message, AIMessage) and message.tool_calls:
                for call in message.tool_calls:
                    say(f"  reason → tool call {call['name']}({json.dumps(call['args'], ensure_ascii=False)})")
    elif node == "tools":
        for message in update["messages"]:
            if isinstance(message, ToolMessage):
                lines = str(message.content).splitlines()
                say(f"  tools: {message.name} returned {max(len(lines) - 2, 0)} line(s)")


def _ask(graph, context: Context, questions: list[dict], say: Callable[[str], None]) -> list[dict]:
    """Each question through the agent graph; the answer is the option the model's token
    probabilities favour, and ``p_expected`` the probability it gave the expected option."""
    answers = []
    for q in questions:
        say(f"\n  Q: {q['query']}")
        answer = ""
        distribution = {}
        for chunk in graph.stream({"messages": [HumanMessage(q["query"])], "answer_options": q["options"],
                                   "record": False}, context=context, stream_mode="updates"):
            for node, update in chunk.items():
                _show_update(node, update or {}, say)
                if node == "reason":
                    distribution = update.get("answer_distribution") or {}
                if node == "update_memory":
                    answer = update["answer"]
        ok = answer == q["expected"]
        shown = ", ".join(f"{option} {p:.2f}" for option, p in distribution.items())
        say(f"  A: {answer}   ({shown})\n  expected: {q['expected']}  {'✓' if ok else '✗'}")
        answers.append({"query": q["query"], "answer": answer, "expected": q["expected"], "match": ok,
                        "p_expected": distribution.get(q["expected"], 0.0)})
    return answers


def _optimize(context: Context, resources: Resources, settings: OptimizerSettings, say: Callable[[str], None]) -> dict:
    from .optimize import format_summary, persona_diff, run_optimizer

    say(f"\n  optimizing the persona ({settings.max_iters} iteration(s) at most, batch {settings.batch_size}, "
        f"validation {settings.validation_size}, {settings.candidates} candidate(s) per iteration)…")
    start = resources.memory.current_persona(context.user_id).version
    summary = run_optimizer(context, resources, settings,
                            on_iteration=lambda p: say(f"    iteration {p['iteration']}: loss {p['loss']:.3f} ({p['outcome']})"))
    say("\n".join("  " + line for line in format_summary(summary).splitlines()))
    if summary["accepted"]:
        say(f"\n  persona after (v{summary['final_version']}), what changed from v{start}:")
        say(_indent(persona_diff(resources.memory, context.user_id, start, summary["final_version"])))
    else:
        say(f"\n  persona after: v{start}, unchanged (no candidate beat it on those interactions)")
    return summary


def _right(answers: list[dict]) -> str:
    mean = sum(a["p_expected"] for a in answers) / len(answers) if answers else 0.0
    return f"{sum(a['match'] for a in answers)} of {len(answers)} (mean p(expected option) {mean:.2f})"


def summary_lines(results: list[DemoResult], settings: OptimizerSettings, seconds: float) -> list[str]:
    """What the demo showed, user by user, what it cannot show, and how long it took."""
    lines = ["\n=== summary: each answer is the option the model's token probabilities favour; "
             "'expected' is the option the user's history points to"]
    for r in results:
        lines.append(f"  {r.user}: before optimization {_right(r.answers)}")
        if o := r.optimization:
            judged = len(o.get("selection", [])) or settings.batch_size + settings.validation_size
            outcome = (f"{o['accepted']} candidate(s) accepted, persona now v{o['final_version']}" if o["accepted"]
                       else f"no candidate accepted ({o['rejected']} rejected), persona unchanged")
            lines.append(f"    optimization on {r.user}'s {judged} latest labelled interactions: loss "
                         f"{o['initial_loss']:.3f} → {o['best_loss']:.3f}; {outcome}; {o['model_calls']} model calls")
            if r.answers_after:
                lines.append(f"    after optimization {_right(r.answers_after)}")
            else:
                lines.append("    the questions were not asked again: the same persona at temperature 0 gives "
                             "the same answers")
    lines.append("  A handful of questions is a first look at what the agent does, not a measure of how well "
                 "it does it: the evaluation on real data is in results/README.md.")
    lines.append(f"  ({len(results)} user(s) in {int(seconds // 60)} min {seconds % 60:.0f} s)")
    return lines


def run_demo(
    home: Path,
    plan: DemoPlan = FIRST_LOOK,
    resources: Resources | None = None,
    say: Callable[[str], None] = print,
) -> list[DemoResult]:
    """Run the demo in a fresh store under ``home/demo``; returns what each user got."""
    began = time.monotonic()
    store_dir = Path(home) / "demo" / "chroma"
    shutil.rmtree(store_dir, ignore_errors=True)
    resources = resources or Resources()
    if resources.memory is None:
        resources.memory = MemoryStore.open(store_dir)
    memory = resources.memory
    graph = build_agent_graph(resources).compile()
    catalogue = read_knowledge(demo_file("catalogue.jsonl"))
    questions = demo_questions()
    results = []
    for user in plan.users:
        context = Context(user_id=user, chroma_path=str(store_dir))
        history = read_history(user, demo_file(f"{user}.jsonl"))
        memory.episodes.add(history)
        memory.knowledge.add(user, catalogue)
        say(f"\n=== {user}: ingested {len(history)} labelled interactions and {len(catalogue)} catalogue items")
        say("  summarising the profile…")
        memory.refresh_profile(user, resources.optimizer_model_for(context), resources.retry)
        persona = memory.current_persona(user)
        say(f"  initial persona (v{persona.version}):\n{_indent(persona.text)}")
        result = DemoResult(user=user, persona=persona.text)
        asked = questions[user][:plan.questions]
        result.answers = _ask(graph, context, asked, say)
        if plan.optimizer.max_iters > 0:
            result.optimization = _optimize(context, resources, plan.optimizer, say)
            if result.optimization["accepted"]:
                say(f"\n  the same questions under persona v{result.optimization['final_version']}:")
                result.answers_after = _ask(graph, context, asked, say)
        results.append(result)
    for line in summary_lines(results, plan.optimizer, time.monotonic() - began):
        say(line)
    return results
