"""The `personaagent` command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import PersonaAgentError


def _store(args):
    from .memory import memory_for

    return memory_for(_context(args))


def _context(args):
    from .context import Context

    return Context(
        user_id=getattr(args, "user", None) or "default",
        chroma_path=os.environ.get("PERSONAAGENT_CHROMA_PATH") or str(Path(args.home) / "chroma"),
    )


def cmd_demo(args) -> int:
    from .demo import SAMPLE_USERS, run_demo

    users = tuple(u.strip() for u in args.users.split(",") if u.strip()) if args.users else SAMPLE_USERS
    unknown = set(users) - set(SAMPLE_USERS)
    if unknown:
        raise PersonaAgentError(f"unknown sample user(s) {sorted(unknown)}; choose from {list(SAMPLE_USERS)}")
    run_demo(Path(args.home), users, args.questions)
    return 0


def cmd_ingest(args) -> int:
    from tqdm import tqdm

    from .memory import read_history, read_knowledge
    from .resources import Resources
    from .ids import validate_user_id

    user = validate_user_id(args.user)
    store = _store(args)
    if args.knowledge:
        items = read_knowledge(args.file)
        store.knowledge.add(user, items)
        print(f"stored {len(items)} knowledge item(s) for {user}")
        return 0
    items = read_history(user, args.file)
    with tqdm(total=len(items), desc=f"ingest {user}", unit="line", file=sys.stderr) as bar:
        store.episodes.add(items, on_batch=bar.update)
    labelled = sum(i.labelled for i in items)
    print(f"stored {len(items)} interaction(s) for {user} ({labelled} labelled); "
          f"{store.episodes.count(user)} in total")
    if not args.no_profile:
        print("summarising the profile…", file=sys.stderr)
        profile = store.refresh_profile(user, Resources().optimizer_model_for(_context(args)))
        persona = store.current_persona(user)
        print(f"profile v{profile.version}; persona v{persona.version} ({persona.source})")
    return 0


def cmd_persona(args) -> int:
    from datetime import datetime, timezone

    from .ids import validate_user_id

    user = validate_user_id(args.user)
    store = _store(args)
    if args.persona_command == "show":
        version = store.personas.get(user, args.version) if args.version else store.personas.latest(user)
        if version is None:
            print(f"{user} has no persona yet (it is created on the first chat turn or ingest)")
            return 1
        print(f"# persona v{version.version} ({version.source})\n{version.text}")
        return 0
    history = store.personas.history(user)
    if not history:
        print(f"{user} has no persona yet")
        return 1
    for v in history:
        when = datetime.fromtimestamp(v.created_at, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        loss = "" if v.loss is None else f" loss={v.loss:.4f}"
        parent = "" if v.parent is None else f" parent=v{v.parent}"
        print(f"v{v.version}  {when}  {v.source}{parent}{loss}  {len(v.text)} chars")
    return 0


def cmd_chat(args) -> int:
    from .chat import run_chat

    return run_chat(_context(args), Path(args.home), thread=args.thread)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="personaagent",
        description="Per-user evolving personas for LLM agents. Models: set PERSONAAGENT_BASE_URL / "
        "PERSONAAGENT_API_KEY / PERSONAAGENT_MODEL for an OpenAI-compatible endpoint; unset, the "
        "embedded local model is used.",
    )
    parser.add_argument(
        "--home", default=os.environ.get("PERSONAAGENT_HOME") or str(Path.home() / ".personaagent"),
        help="data directory: Chroma store, chat threads (default: $PERSONAAGENT_HOME or ~/.personaagent)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="ingest three sample users and answer questions for each",
                          description="Ingest three sample users with different tastes into a fresh "
                          "store under HOME/demo, show each initial persona, and answer new questions "
                          "through the agent graph, showing retrieved memories and tool calls.")
    demo.add_argument("--users", help="comma-separated subset of maya,omar,lena (default: all three)")
    demo.add_argument("--questions", type=int, default=3, help="questions per user (default: 3)")
    demo.set_defaults(func=cmd_demo)

    chat = sub.add_parser("chat", help="chat with the agent as a user (threads persist)",
                          description="Interactive chat. Commands: /right TEXT records what you "
                          "really wanted for the last turn; /feedback TEXT records feedback on it; "
                          "/persona shows the current persona; /quit leaves.")
    chat.add_argument("--user", required=True, help="user id")
    chat.add_argument("--thread", help="thread id to continue (default: the user id)")
    chat.set_defaults(func=cmd_chat)

    ingest = sub.add_parser("ingest", help="load a user's history (JSONL) or knowledge (JSONL/CSV)",
                            description="History JSONL: one object per line with 'query' and "
                            "'ground_truth' or 'answer', optional 'feedback', 'timestamp' (ISO-8601 "
                            "or epoch seconds) and 'metadata'. Every line is validated first; a bad "
                            "line stores nothing. With --knowledge: items with 'text' (and 'id', "
                            "'title', 'metadata') for the user's knowledge collection.")
    ingest.add_argument("--user", required=True, help="user id")
    ingest.add_argument("file", help="path of the JSONL (or, with --knowledge, CSV) file")
    ingest.add_argument("--knowledge", action="store_true", help="load knowledge items instead of history")
    ingest.add_argument("--no-profile", action="store_true",
                        help="skip summarising the profile and initial persona after the ingest")
    ingest.set_defaults(func=cmd_ingest)

    persona = sub.add_parser("persona", help="show a user's persona and its version history")
    persona_sub = persona.add_subparsers(dest="persona_command", required=True, metavar="ACTION")
    show = persona_sub.add_parser("show", help="print the current (or a given) persona version")
    show.add_argument("--user", required=True, help="user id")
    show.add_argument("--version", type=int, help="version number (default: current)")
    history = persona_sub.add_parser("history", help="list every persona version with source and loss")
    history.add_argument("--user", required=True, help="user id")
    persona.set_defaults(func=cmd_persona)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PersonaAgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
