"""Agent-turn overhead: the time a turn spends outside the model and outside memory reads, as a
share of the turn, with a scripted model of fixed latency.

The user has HISTORY stored interactions (embedded int8 MiniLM, Chroma directory); each turn runs
the compiled agent graph with an in-memory checkpointer, as an app would. Measured per turn, in
the same run: the turn's wall time, the time inside model calls, the time inside memory reads
(retrieve_memory's search and persona read, look_up's profile and knowledge reads) and inside memory
writes (update_memory embeds and stores the interaction). Overhead = turn − model − reads; it
includes the writes, LangGraph and prompt building.

    python benchmarks/agent_overhead.py [--latency 0.5] [--turns 30] [--history 500]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import defaultdict

os.environ.setdefault("PERSONAAGENT_WEB_SEARCH", "0")

from langchain_core.messages import HumanMessage  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402

from personaagent.context import Context  # noqa: E402
from personaagent.graphs.agent import build_agent_graph  # noqa: E402
from personaagent.memory import Interaction, MemoryStore  # noqa: E402
from personaagent.resources import Resources  # noqa: E402
from personaagent.testing import ScriptedChatModel, persona_agent_script  # noqa: E402

spent: dict[str, float] = defaultdict(float)


def timed(kind: str, fn):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[kind] += time.perf_counter() - start
    return wrapper


class TimedModel(ScriptedChatModel):
    def _generate(self, *args, **kwargs):
        return timed("model", super()._generate)(*args, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per model call")
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--history", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        memory = MemoryStore.open(tmp)
        memory.episodes.add([Interaction(user_id="bench", query=f"Evening plan {n}: a {g} film or a walk?",
                                         ground_truth=f"a {g} film", timestamp=float(n))
                             for n, g in zip(range(args.history), ["comedy", "horror", "drama", "sci-fi"] * args.history)])
        memory.current_persona("bench")
        for name in ("search", "list", "count"):
            setattr(memory.episodes, name, timed("reads", getattr(memory.episodes, name)))
        memory.profiles.latest = timed("reads", memory.profiles.latest)
        memory.knowledge.search = timed("reads", memory.knowledge.search)
        memory.current_persona = timed("reads", memory.current_persona)
        memory.episodes.add = timed("writes", memory.episodes.add)
        model = TimedModel(script=persona_agent_script("a comedy film"), latency_s=args.latency)
        graph = build_agent_graph(Resources(memory=memory, agent_model=model)).compile(checkpointer=InMemorySaver())
        context = Context(user_id="bench", profile_every=10**9)
        rows = []
        for n in range(args.turns + 1):
            spent.clear()
            start = time.perf_counter()
            graph.invoke({"messages": [HumanMessage(f"Tonight {n}: a comedy film or a walk?")]},
                         {"configurable": {"thread_id": f"t{n}"}}, context=context)
            turn = time.perf_counter() - start
            if n:  # the first turn warms up (imports, embedder)
                rows.append((turn, spent["model"], spent["reads"], spent["writes"]))
    turn, model_s, reads, writes = (statistics.fmean(col) for col in zip(*rows))
    overhead = turn - model_s - reads
    print(f"{args.turns} turns, {args.history} stored interactions, model latency {args.latency}s "
          f"({len(model.calls) // (args.turns + 1)} calls per turn)")
    print(f"mean per turn: turn {turn * 1e3:.1f} ms = model {model_s * 1e3:.1f} + memory reads {reads * 1e3:.1f} "
          f"+ overhead {overhead * 1e3:.1f} (of which memory writes {writes * 1e3:.1f})")
    share = overhead / turn
    print(f"overhead / turn: {share * 100:.2f} % (target ≤ 5 %: {'met' if share <= 0.05 else 'NOT met'}); "
          f"without the memory write: {(overhead - writes) / turn * 100:.2f} %")


if __name__ == "__main__":
    main()
