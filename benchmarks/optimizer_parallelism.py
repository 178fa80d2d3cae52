"""Optimizer parallelism: wall time of an optimization over the critical path of its model calls.

A scripted model sleeps a fixed latency per call. Each simulation is one model call; the
simulations of one round (every sample under every candidate of the iteration) run in parallel
(Send), so a round's critical path is one latency. Each iteration adds the critique and the two
proposals (an edit and a section rewrite, made one after the other). With I iterations the critical
path is (1 + 4I) × latency. The same run is repeated with max_concurrency=1 (serial simulations)
for comparison, side by side.

    python benchmarks/optimizer_parallelism.py [--latency 0.2] [--batch 3] [--iters 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("PERSONAAGENT_WEB_SEARCH", "0")

from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402

from personaagent.context import Context  # noqa: E402
from personaagent.graphs.optimizer import build_optimizer_graph  # noqa: E402
from personaagent.memory import Interaction, MemoryStore  # noqa: E402
from personaagent.persona.losses import Score  # noqa: E402
from personaagent.resources import Resources  # noqa: E402
from personaagent.testing import HashEmbeddingFunction, ScriptedChatModel, persona_agent_script  # noqa: E402


# Never right: every iteration is rejected, so the run does all its iterations.
respond = persona_agent_script("WRONG", edits=[{"action": "add", "section": "How to serve this user", "text": "Be brief."}])


def run_once(latency: float, batch: int, iters: int, max_concurrency: int | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        memory = MemoryStore.open(tmp, embedder=HashEmbeddingFunction())
        memory.episodes.add([Interaction(user_id="bench", query=f"question {n}", ground_truth="RIGHT",
                                         timestamp=float(n)) for n in range(batch + 5)])
        model = ScriptedChatModel(script=respond, latency_s=latency)
        graph = build_optimizer_graph(Resources(
            memory=memory, agent_model=model, metric=lambda s, a: Score(1.0, "wrong"),
        )).compile(checkpointer=InMemorySaver())
        config = {"configurable": {"thread_id": "bench"}}
        if max_concurrency:
            config["max_concurrency"] = max_concurrency
        inputs = {"batch_size": batch, "validation_size": 0, "max_iters": iters, "patience": iters + 1,
                  "operators": ["edit", "section"], "candidates": 2}
        start = time.perf_counter()
        out = graph.invoke(inputs, config, context=Context(user_id="bench"))
        wall = time.perf_counter() - start
    rounds = len(out["loss_curve"])
    critical = (1 + 4 * (rounds - 1)) * latency
    return {"wall": wall, "critical": critical, "calls": out["model_calls"], "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per model call")
    parser.add_argument("--batch", type=int, default=3, help="N, interactions simulated per round")
    parser.add_argument("--iters", type=int, default=2, help="optimizer iterations")
    args = parser.parse_args()
    run_once(0.0, args.batch, 1, None)  # warm-up (imports, Chroma)
    parallel = run_once(args.latency, args.batch, args.iters, None)
    serial = run_once(args.latency, args.batch, args.iters, 1)
    per_iter = (parallel["calls"] - args.batch) / max(parallel["rounds"] - 1, 1)
    print(f"latency {args.latency}s per call, N={args.batch}, {args.iters} iterations, "
          f"{parallel['rounds']} simulation rounds")
    print(f"{'mode':<10} {'wall s':>8} {'critical path s':>16} {'wall/critical':>14} {'model calls':>12}")
    for name, r in (("parallel", parallel), ("serial", serial)):
        print(f"{name:<10} {r['wall']:>8.2f} {r['critical']:>16.2f} {r['wall'] / r['critical']:>14.3f} {r['calls']:>12}")
    print(f"model calls per iteration: {per_iter:.0f} (2 candidates × N simulations + critique + edit + section); "
          f"baseline round: {args.batch}")
    print(f"target: parallel wall/critical ≤ 1.15 -> {'met' if parallel['wall'] / parallel['critical'] <= 1.15 else 'NOT met'}")


if __name__ == "__main__":
    main()
