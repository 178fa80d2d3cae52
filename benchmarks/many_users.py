"""Many users: optimizing 100 users' personas at concurrency 16 against one at a time, with a
scripted model of fixed latency, side by side in one run; and the peak memory of the process.

Each user has 5 labelled interactions (batch 3, validation 2) and one iteration: a baseline round
of 5 simulations (one model call each), a critique, a section rewrite and a candidate round. Same
store kind (Chroma directory, hashing embedder), same model, same inputs for both modes.

    python benchmarks/many_users.py [--users 100] [--concurrency 16] [--latency 0.3]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

os.environ.setdefault("PERSONAAGENT_WEB_SEARCH", "0")

from personaagent.context import Context  # noqa: E402
from personaagent.memory import Interaction, MemoryStore  # noqa: E402
from personaagent.persona.losses import Score  # noqa: E402
from personaagent.services.optimize import optimize_users  # noqa: E402
from personaagent.resources import Resources  # noqa: E402
from personaagent.testing import HashEmbeddingFunction, ScriptedChatModel, persona_agent_script  # noqa: E402


def run(users: int, concurrency: int, latency: float, tmp: str) -> tuple[float, dict]:
    memory = MemoryStore.open(f"{tmp}/c{concurrency}", embedder=HashEmbeddingFunction())
    for u in range(users):
        memory.episodes.add([Interaction(user_id=f"user{u}", query=f"question {n} for user {u}", ground_truth="RIGHT",
                                         timestamp=float(n)) for n in range(5)])
    model = ScriptedChatModel(latency_s=latency, script=persona_agent_script(
        lambda system, messages: "RIGHT" if "GOOD" in system.split("## Retrieved")[0] else "WRONG",
        rewrite="- A GOOD persona line."))
    resources = Resources(memory=memory, agent_model=model, metric=lambda s, a: Score(0.0 if a == "RIGHT" else 1.0, a))
    contexts = [Context(user_id=f"user{u}", chroma_path=f"{tmp}/c{concurrency}") for u in range(users)]
    start = time.perf_counter()
    settings = {"batch_size": 3, "validation_size": 2, "max_iters": 1, "operators": ["section"], "candidates": 1}
    results = optimize_users(contexts, resources, settings, concurrency=concurrency)
    return time.perf_counter() - start, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per model call")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(2, 2, 0.0, tmp + "/warm")  # imports, Chroma
        concurrent_s, results = run(args.users, args.concurrency, args.latency, tmp)
        serial_s, serial_results = run(args.users, 1, args.latency, tmp)
    failed = [u for u, r in {**results, **serial_results}.items() if isinstance(r, BaseException)]
    accepted = sum(r["accepted"] for r in results.values() if not isinstance(r, BaseException))
    calls = sum(r["model_calls"] for r in results.values() if not isinstance(r, BaseException))
    critical = 4 * args.latency  # per user: 2 simulation rounds + critique + section rewrite
    print(f"{args.users} users, latency {args.latency}s per model call, {calls // args.users} calls per user, "
          f"critical path {critical:.1f}s per user")
    print(f"{'mode':<16} {'wall s':>8} {'users/s':>8}")
    print(f"{'serial':<16} {serial_s:>8.1f} {args.users / serial_s:>8.2f}")
    print(f"{'concurrency ' + str(args.concurrency):<16} {concurrent_s:>8.1f} {args.users / concurrent_s:>8.2f}")
    speedup = serial_s / concurrent_s
    print(f"speed-up {speedup:.1f}x (target ≥ 12: {'met' if speedup >= 12 else 'NOT met'}); "
          f"accepted {accepted}/{args.users}; failed runs {len(failed)}")
    print(f"peak memory of this process (max RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
