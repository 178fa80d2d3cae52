"""`personaagent demo`: three sample users with different tastes, each answered by the agent graph.

For each user: ingest their 20 labelled interactions and the shared item catalogue, summarise a
profile, build the initial persona, answer new questions while showing what the graph did
(retrieved memories, tool calls, answer), optimize the persona on the user's latest labelled
interactions, print the loss before and after and the persona diff, and answer the same questions
again. Questions are asked with ``record=False`` so the expected answers never enter memory.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from ..context import Context
from ..graphs.agent import build_agent_graph
from ..memory import MemoryStore, read_history, read_knowledge
from ..resources import Resources
from ..persona.settings import OptimizerSettings

SAMPLE_USERS = ("maya", "omar", "lena")


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

    @property
    def hits(self) -> int:  # answers are options, so a hit is the expected option itself
        return sum(a["match"] for a in self.answers)

    @property
    def hits_after(self) -> int:
        return sum(a["match"] for a in self.answers_after)


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
        answers.append({"query": q["query"], "answer": answer, "expected": q["expected"], "match": ok})
    return answers


def _optimize(context: Context, resources: Resources, iters: int, say: Callable[[str], None]) -> dict:
    from .optimize import format_summary, persona_diff, run_optimizer

    settings = OptimizerSettings.of(max_iters=iters)
    say(f"\n  optimizing the persona ({iters} iteration(s) at most, batch {settings.batch_size}, validation "
        f"{settings.validation_size}, {settings.candidates} candidates per iteration)…")
    start = resources.memory.current_persona(context.user_id).version
    summary = run_optimizer(context, resources, settings,
                            on_iteration=lambda p: say(f"    iteration {p['iteration']}: loss {p['loss']:.3f} ({p['outcome']})"))
    say("\n".join("  " + line for line in format_summary(summary).splitlines()))
    if summary["accepted"]:
        say(_indent(persona_diff(resources.memory, context.user_id, start, summary["final_version"])))
    return summary


def run_demo(
    home: Path,
    users: tuple[str, ...] = SAMPLE_USERS,
    questions_per_user: int = 3,
    resources: Resources | None = None,
    say: Callable[[str], None] = print,
    optimize_iters: int = 1,
) -> list[DemoResult]:
    """Run the demo in a fresh store under ``home/demo``; returns what each user got."""
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
    for user in users:
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
        result.answers = _ask(graph, context, questions[user][:questions_per_user], say)
        if optimize_iters > 0:
            result.optimization = _optimize(context, resources, optimize_iters, say)
            say(f"\n  the same questions under persona v{result.optimization['final_version']}:")
            result.answers_after = _ask(graph, context, questions[user][:questions_per_user], say)
        results.append(result)
    say("\n=== summary (answers naming the option that fits the user's tastes)")
    for r in results:
        line = f"  {r.user}: {r.hits}/{len(r.answers)} before"
        if r.optimization:
            o = r.optimization
            line += (f", {r.hits_after}/{len(r.answers_after)} after optimization "
                     f"(loss {o['initial_loss']:.3f} → {o['best_loss']:.3f}, {o['accepted']} accepted, "
                     f"{o['rejected']} rejected, {o['model_calls']} model calls)")
        say(line)
    return results
