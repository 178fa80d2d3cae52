"""The `personaagent` command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import PersonaAgentError
from .eval.cli import add_eval_command


def _store(args):
    from .memory import memory_for

    return memory_for(context_of(args))


def context_of(args, user: str | None = None):
    from .context import Context
    from .ids import validate_user_id

    user = user if user is not None else getattr(args, "user", None)
    return Context(
        user_id=validate_user_id(user) if user is not None else "default",
        chroma_path=os.environ.get("PERSONAAGENT_CHROMA_PATH") or str(Path(args.home) / "chroma"),
    )


def cmd_demo(args) -> int:
    from .demo import SAMPLE_USERS, run_demo

    users = tuple(u.strip() for u in args.users.split(",") if u.strip()) if args.users else SAMPLE_USERS
    unknown = set(users) - set(SAMPLE_USERS)
    if unknown:
        raise PersonaAgentError(f"unknown sample user(s) {sorted(unknown)}; choose from {list(SAMPLE_USERS)}")
    run_demo(Path(args.home), users, args.questions, optimize_iters=args.optimize_iters)
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
        profile = store.refresh_profile(user, Resources().optimizer_model_for(context_of(args)))
        persona = store.current_persona(user)
        print(f"profile v{profile.version}; persona v{persona.version} ({persona.source})")
    return 0


def cmd_persona(args) -> int:
    from datetime import datetime, timezone

    from .ids import validate_user_id

    user = validate_user_id(args.user)
    store = _store(args)
    if args.persona_command == "rollback":
        version = store.rollback_persona(user, args.to)
        print(f"persona of {user} is now v{version.version} (a copy of v{args.to})")
        return 0
    if args.persona_command == "diff":
        from .optimize import persona_diff

        print(persona_diff(store, user, args.a, args.b) or f"v{args.a} and v{args.b} are identical")
        return 0
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


def cmd_optimize(args) -> int:
    from langgraph.checkpoint.sqlite import SqliteSaver
    from tqdm import tqdm

    from .ids import validate_user_id
    from .optimize import format_summary, format_number, run_optimizer
    from .resources import Resources

    from .settings import OptimizerSettings

    inputs = OptimizerSettings.of(
        batch_size=args.batch_size, validation_size=args.validation, candidates=args.candidates,
        operators=args.operators.split(",") if args.operators else None, margin=args.margin, max_iters=args.iters,
        patience=args.patience, max_calls=args.budget, metric=args.metric)
    if args.users:
        return optimize_many(args, inputs)
    user = validate_user_id(args.user)
    Path(args.home).mkdir(parents=True, exist_ok=True)
    with SqliteSaver.from_conn_string(str(Path(args.home) / "optimizer.sqlite")) as saver, \
            tqdm(total=inputs.max_iters + 1, desc=f"optimize {user}", unit="iter", file=sys.stderr) as bar:
        def progress(point):
            bar.set_postfix_str(f"iter {point['iteration']}: loss {format_number(point['loss'])} ({point['outcome']})")
            bar.update(1)

        summary = run_optimizer(context_of(args), Resources(), inputs, saver, restart=args.restart,
                                on_iteration=progress)
    print(format_summary(summary))
    return 0


def optimize_many(args, inputs) -> int:
    """``optimize --users``: one line per user as each finishes; exit 1 if any failed."""
    from .optimize import format_number, optimize_users
    from .resources import Resources

    users = [u.strip() for u in args.users.split(",") if u.strip()]
    contexts = [context_of(args, user) for user in users]

    def report(user: str, result) -> None:
        if isinstance(result, BaseException):
            print(f"{user}: failed: {model_failure(result) or result}")
        else:
            print(f"{user}: loss {format_number(result.get('initial_loss'))} → {format_number(result.get('best_loss'))}, "
                  f"{result.get('accepted')} accepted, stop {result.get('stop_reason')}, persona v{result.get('final_version')}")
        sys.stdout.flush()

    results = optimize_users(contexts, Resources(), inputs, concurrency=args.concurrency, on_done=report)
    failed = sum(isinstance(r, BaseException) for r in results.values())
    print(f"{len(users) - failed} of {len(users)} users optimized")
    return 1 if failed else 0


def cmd_runs(args) -> int:
    from datetime import datetime, timezone

    from .ids import validate_user_id

    runs = _store(args).runs.history(validate_user_id(args.user))
    if not runs:
        print(f"no optimization runs for {args.user}")
    for run in runs:
        when = datetime.fromtimestamp(run["started_at"], tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        s = run["summary"]
        detail = f"  loss {s.get('initial_loss')} → {s.get('best_loss')}, {s.get('stop_reason')}" if s else ""
        print(f"{when}  {run['trigger']:<9} {run['status']}{detail}")
    return 0


def cmd_ask(args) -> int:
    from langchain_core.messages import HumanMessage

    from .graphs.agent import build_agent_graph
    from .ids import validate_user_id
    from .resources import Resources

    context = context_of(args)
    validate_user_id(context.user_id)
    inputs = {"messages": [HumanMessage(args.request)]}
    if args.right is not None:
        inputs["ground_truth"] = args.right
    out = build_agent_graph(Resources()).compile().invoke(inputs, context=context)
    print(out["answer"])
    return 0


def model_failure(exc: BaseException) -> str | None:
    """A message for a model endpoint that failed (after retries), or None for other errors."""
    import openai

    from .resilience import is_transient

    if not (is_transient(exc) or isinstance(exc, openai.APIError)):
        return None
    request = getattr(exc, "request", None)
    where = f" at {request.url}" if request is not None else ""
    return f"the model endpoint{where} failed: {type(exc).__name__}: {exc}"


def cmd_chat(args) -> int:
    from .chat import run_chat

    context = context_of(args)
    context.optimize_every = args.optimize_every
    return run_chat(context, Path(args.home), thread=args.thread)


def build_parser() -> argparse.ArgumentParser:
    from .settings import OptimizerSettings

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
                          "store under HOME/demo, show each initial persona, answer new questions through "
                          "the agent graph (showing retrieved memories and tool calls), optimize each "
                          "persona, and answer the same questions again.")
    demo.add_argument("--users", help="comma-separated subset of maya,omar,lena (default: all three)")
    demo.add_argument("--questions", type=int, default=3, help="questions per user (default: 3)")
    demo.add_argument("--optimize-iters", type=int, default=1,
                      help="optimizer iterations per user before the questions are asked again (0: skip; default 1)")
    demo.set_defaults(func=cmd_demo)

    chat = sub.add_parser("chat", help="chat with the agent as a user (threads persist)",
                          description="Interactive chat. Commands: /right TEXT records what you "
                          "really wanted for the last turn; /feedback TEXT records feedback on it; "
                          "/persona shows the current persona; /quit leaves.")
    chat.add_argument("--user", required=True, help="user id")
    chat.add_argument("--thread", help="thread id to continue (default: the user id)")
    chat.add_argument("--optimize-every", type=int, default=0, metavar="K",
                      help="optimize the persona in the background after K new labelled turns (default: off)")
    chat.set_defaults(func=cmd_chat)

    ask = sub.add_parser("ask", help="ask the agent one question as a user",
                         description="One turn of the agent graph for a user: retrieval, persona, tools, "
                         "answer; the interaction is stored in their memory.")
    ask.add_argument("--user", required=True, help="user id")
    ask.add_argument("request", help="the question or request")
    ask.add_argument("--right", metavar="TEXT", help="what the user really wanted (stores a labelled interaction)")
    ask.set_defaults(func=cmd_ask)

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

    optimize = sub.add_parser("optimize", help="optimize a user's persona on their latest labelled interactions",
                              description="Test-time persona alignment: re-answer the user's latest labelled "
                              "interactions under the current persona, critique the misses of the latest ones, "
                              "propose candidates from several edit operators, and keep a candidate only if it "
                              "beats the current persona on the same samples (the batch and an older validation "
                              "window) by the margin, winning more samples than it loses. An interrupted run "
                              "resumes on the next call (state in HOME/optimizer.sqlite) unless --restart.")
    who = optimize.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="user id")
    who.add_argument("--users", help="comma-separated user ids, optimized --concurrency at a time (no resume)")
    optimize.add_argument("--concurrency", type=int, default=4, help="with --users: optimizations at once (default 4)")
    defaults = OptimizerSettings()
    optimize.add_argument("--batch-size", type=int, help=f"latest labelled interactions the critique reflects on (default {defaults.batch_size})")
    optimize.add_argument("--validation", type=int, help="labelled interactions before the batch that candidates are also "
                          f"judged on (default {defaults.validation_size})")
    optimize.add_argument("--candidates", type=int, help=f"candidates per iteration (default {defaults.candidates})")
    optimize.add_argument("--operators", help=f"comma-separated edit operators, taken in turn (default {','.join(defaults.operators)})")
    optimize.add_argument("--margin", type=float, help=f"minimum mean loss improvement to accept (default {defaults.margin})")
    optimize.add_argument("--iters", type=int, help=f"maximum critique/propose iterations (default {defaults.max_iters})")
    optimize.add_argument("--patience", type=int, help=f"stop after this many iterations in a row with nothing accepted (default {defaults.patience})")
    optimize.add_argument("--budget", type=int, help="model-call budget for the run (default: none)")
    optimize.add_argument("--metric", choices=["auto", "closed", "label", "choice", "rating", "judge"], help="per-sample loss (default auto)")
    optimize.add_argument("--restart", action="store_true", help="start over instead of resuming an interrupted run")
    optimize.set_defaults(func=cmd_optimize)

    add_eval_command(sub)

    runs = sub.add_parser("runs", help="list a user's optimization runs (manual and background)")
    runs.add_argument("--user", required=True, help="user id")
    runs.set_defaults(func=cmd_runs)

    persona = sub.add_parser("persona", help="show, list, diff or roll back a user's persona versions")
    persona_sub = persona.add_subparsers(dest="persona_command", required=True, metavar="ACTION")
    show = persona_sub.add_parser("show", help="print the current (or a given) persona version")
    show.add_argument("--user", required=True, help="user id")
    show.add_argument("--version", type=int, help="version number (default: current)")
    history = persona_sub.add_parser("history", help="list every persona version with source and loss")
    history.add_argument("--user", required=True, help="user id")
    rollback = persona_sub.add_parser("rollback", help="make an earlier version current (as a new version)")
    rollback.add_argument("--user", required=True, help="user id")
    rollback.add_argument("--to", type=int, required=True, help="the version to restore")
    diff = persona_sub.add_parser("diff", help="unified diff between two persona versions")
    diff.add_argument("--user", required=True, help="user id")
    diff.add_argument("a", type=int, help="older version")
    diff.add_argument("b", type=int, help="newer version")
    persona.set_defaults(func=cmd_persona)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PersonaAgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        message = model_failure(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
