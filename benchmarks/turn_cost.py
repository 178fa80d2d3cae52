"""Cost of one agent turn on the embedded model, on the demo's questions: model calls, prompt
tokens and wall time per turn.

Uses only what every version of the agent graph accepts, so the same script measures an older
commit too (run it from a checkout of that commit with PYTHONPATH pointing at it)::

    .venv/bin/python benchmarks/turn_cost.py                       # this checkout
    git worktree add /tmp/before 26ce4ad
    PYTHONPATH=/tmp/before .venv/bin/python benchmarks/turn_cost.py --label before

Each user's 20 labelled interactions are ingested into a fresh store; every question is asked
with ``record=False`` (and its options, which a version without closed-form answers ignores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import HumanMessage


class Counter(BaseCallbackHandler):
    """Counts chat-model calls and the prompt tokens the endpoint reports for them."""

    def __init__(self):
        self.calls = 0
        self.prompt_tokens = 0

    def on_chat_model_start(self, serialized, messages, **kwargs):
        self.calls += 1

    def on_llm_end(self, response, **kwargs):
        for generations in response.generations:
            for generation in generations:
                usage = getattr(getattr(generation, "message", None), "usage_metadata", None) or {}
                self.prompt_tokens += int(usage.get("input_tokens", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default="this checkout")
    parser.add_argument("--users", default="maya,omar,lena")
    args = parser.parse_args()

    import personaagent
    from personaagent.context import Context
    from personaagent.services.demo import demo_file, demo_questions
    from personaagent.graphs.agent import build_agent_graph
    from personaagent.memory import MemoryStore, read_history
    from personaagent.models.factory import ModelSettings, chat_model
    from personaagent.resources import Resources

    chat_model(ModelSettings())  # start the embedded server before anything is timed

    memory = MemoryStore.open(Path(tempfile.mkdtemp()) / "chroma")
    graph = build_agent_graph(Resources(memory=memory)).compile()
    questions = demo_questions()
    turns = []
    for user in args.users.split(","):
        memory.episodes.add(read_history(user, demo_file(f"{user}.jsonl")))
        context = Context(user_id=user, profile_every=10**9)
        memory.current_persona(user)
        for q in questions[user]:
            counter = Counter()
            began = time.perf_counter()
            graph.invoke({"messages": [HumanMessage(q["query"])], "answer_options": q.get("options"), "record": False},
                         {"callbacks": [counter]}, context=context)
            turns.append({"calls": counter.calls, "prompt_tokens": counter.prompt_tokens,
                          "seconds": time.perf_counter() - began})
    summary = {"label": args.label, "package": str(Path(personaagent.__file__).parent), "turns": len(turns),
               **{f"{key} per turn": round(statistics.fmean(t[key] for t in turns), 2)
                  for key in ("calls", "prompt_tokens", "seconds")},
               "seconds per turn, median": round(statistics.median(t["seconds"] for t in turns), 2)}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
