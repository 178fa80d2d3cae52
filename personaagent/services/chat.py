"""`personaagent chat`: an interactive thread, persisted by the store's checkpointer (SQLite in the
home folder beside a Chroma store; the database itself for a Postgres store)."""

from __future__ import annotations

import sys
from pathlib import Path

from langchain_core.messages import HumanMessage

from ..context import Context
from ..errors import PersonaAgentError
from ..persona.stated import numbered_statements
from ..graphs.agent import build_agent_graph
from ..ids import validate_user_id
from .scheduling import maybe_schedule
from ..resources import Resources

HELP = ("commands: /right TEXT (what you really wanted last turn), /feedback TEXT, /persona, "
        "/forget N (drop stated preference N, as /persona numbers them), /quit")


def run_chat(context: Context, home: Path, thread: str | None = None, read=input, say=print) -> int:
    user = validate_user_id(context.user_id)
    resources = Resources()
    memory = resources.memory_for(context)
    home.mkdir(parents=True, exist_ok=True)
    last_id: str | None = None
    with memory.checkpointer(home / "threads.sqlite") as saver:
        graph = build_agent_graph(resources).compile(checkpointer=saver)
        config = {"configurable": {"thread_id": f"{user}:{thread or user}"}}
        say(f"chatting as {user} (thread {thread or user}). {HELP}")
        while True:
            try:
                line = read(f"{user}> ").strip()
            except EOFError:
                return 0
            if not line:
                continue
            if line in ("/quit", "/exit"):
                return 0
            if line == "/persona":
                version = memory.current_persona(user)
                say(f"persona v{version.version} ({version.source}):\n{version.text}")
                say(numbered_statements(version.text))
                continue
            command, _, rest = line.partition(" ")
            if command == "/forget":
                numbers = [int(n) for n in rest.replace(",", " ").split() if n.isdigit()]
                try:
                    version = memory.forget_statements(user, numbers)
                except PersonaAgentError as exc:
                    say(f"nothing forgotten: {exc}")
                    continue
                say(f"forgotten; persona v{version.version}")
                continue
            if command in ("/right", "/feedback"):
                if last_id is None or not rest.strip():
                    say(f"nothing to attach it to, or no text given. {HELP}")
                    continue
                key = "ground_truth" if command == "/right" else "feedback"
                memory.episodes.set_outcome(user, last_id, **{key: rest.strip()})
                say(f"recorded {key.replace('_', ' ')} for the last turn")
                if key == "ground_truth":
                    maybe_schedule(context, resources)
                continue
            if line.startswith("/"):
                say(HELP)
                continue
            out = graph.invoke({"messages": [HumanMessage(line)]}, config, context=context)
            last_id = out.get("interaction_id")
            calls = [c["name"] for m in out["messages"][-4:] for c in getattr(m, "tool_calls", None) or []]
            if calls:
                say(f"  (tools: {', '.join(calls)}; {len(out.get('retrieved', []))} memories)", )
            say(out["answer"])
            for words in out.get("stated") or []:
                say(f'  (kept in your persona: "{words}"; /forget removes it)')
            sys.stdout.flush()
