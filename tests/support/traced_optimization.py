"""One optimizer run on scripted models, in a process of its own, so that LangSmith tracing is
configured by environment variables alone (``python traced_optimization.py STORE_DIR``)."""

import sys

from langchain_core.tracers.langchain import wait_for_all_tracers

from personaagent import Context, MemoryStore, Resources, Score, build_optimizer_graph
from personaagent.memory import Interaction
from personaagent.testing import HashEmbeddingFunction, ScriptedChatModel, persona_agent_script

memory = MemoryStore.open(sys.argv[1], embedder=HashEmbeddingFunction())
memory.episodes.add([Interaction(user_id="alice", query=f"question {n}", ground_truth="RIGHT", timestamp=100.0 + n)
                     for n in range(4)])
model = ScriptedChatModel(script=persona_agent_script(
    lambda system, messages: "RIGHT" if "GOOD" in system.split("## Retrieved")[0] else "WRONG",
    rewrite=["- still bad", "- A GOOD persona."]))
metric = lambda sample, answer: Score(0.0 if answer == "RIGHT" else 1.0, answer)  # noqa: E731
graph = build_optimizer_graph(Resources(memory=memory, agent_model=model, metric=metric)).compile(name="persona-optimizer")
out = graph.invoke({"max_iters": 2, "patience": 3, "validation_size": 1, "operators": ["section"], "candidates": 1},
                   context=Context(user_id="alice"))
print([p["outcome"] for p in out["loss_curve"]], flush=True)
wait_for_all_tracers()
