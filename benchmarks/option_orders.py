"""Cost of reading a choice under several orders of its options, and of checking each option
against what the user stated, on the embedded model: model calls and seconds per answer, side by
side in one run (each question asked under every setting in turn, so load on the machine falls on
all of them alike)::

    .venv/bin/python benchmarks/option_orders.py [--users maya,omar,lena] [--rounds 2]

Settings: the order given only (one call, the reading before ``Context.option_orders``), two
orders (the default), every order, and two orders with one stated preference in the persona and
``Context.check_options`` on (so ``check_stated`` also asks about each option). The demo's users and questions, their histories
ingested; every question is asked with ``record=False``, after an unrelated short request that
empties the server's cached prompt prefix, so each setting starts cold (within one answer, the
calls after the first reuse the prefix they share). Prints the mean per answer and the ratio to
the one-order reading.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from langchain_core.messages import HumanMessage

SETTINGS = {"one order": (1, False), "two orders": (2, False), "every order": (0, False),
            "two orders + check": (2, True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="maya,omar,lena")
    parser.add_argument("--rounds", type=int, default=2, help="times each question is asked under each setting")
    args = parser.parse_args()

    from personaagent.context import Context
    from personaagent.graphs.agent import build_agent_graph
    from personaagent.memory import MemoryStore, read_history
    from personaagent.models.factory import ModelSettings, chat_model
    from personaagent.persona import stated
    from personaagent.resources import Resources
    from personaagent.services.demo import demo_file, demo_questions

    model = chat_model(ModelSettings())  # start the embedded server before anything is timed
    memory = MemoryStore.open(Path(tempfile.mkdtemp()) / "chroma")
    graph = build_agent_graph(Resources(memory=memory)).compile()
    said = stated.Statement("I keep to what I chose before and like trying one new thing at a time.", "2026-01-01", "b")
    spent: dict[str, list[tuple[int, float]]] = {name: [] for name in SETTINGS}
    for user in args.users.split(","):
        memory.episodes.add(read_history(user, demo_file(f"{user}.jsonl")))
        plain = memory.current_persona(user).text
        told = stated.with_statements(plain, [said])
        for q in demo_questions()[user]:
            for _ in range(args.rounds):
                for name, (orders, check) in SETTINGS.items():
                    model.invoke([HumanMessage(f"Say {name}.")], max_tokens=1)  # a cold prefix for each setting
                    began = time.perf_counter()
                    out = graph.invoke({"messages": [HumanMessage(q["query"])], "answer_options": q["options"],
                                        "persona_override": told if check else plain, "record": False},
                                       context=Context(user_id=user, profile_every=10**9, option_orders=orders,
                                                       check_options=check))
                    spent[name].append((out["model_calls"], time.perf_counter() - began))
    base = statistics.fmean(s for _, s in spent["one order"])
    print(json.dumps({name: {"answers": len(rows), "calls per answer": round(statistics.fmean(c for c, _ in rows), 2),
                             "seconds per answer": round(statistics.fmean(s for _, s in rows), 2),
                             "seconds, ratio to one order": round(statistics.fmean(s for _, s in rows) / base, 2)}
                      for name, rows in spent.items()}, indent=1))


if __name__ == "__main__":
    main()
