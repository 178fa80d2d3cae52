"""Commands over a user's stored data: ``ingest``, ``persona``, ``runs``."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

from .common import context_of, store_of


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def cmd_ingest(args) -> int:
    from tqdm import tqdm

    from ..memory import read_history, read_knowledge
    from ..memory.neighbours import TITLE, neighbour_count
    from ..persona.sections import section
    from ..persona.stated import stated_in
    from ..resources import Resources

    context = context_of(args)
    user, store = context.user_id, store_of(args)
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
        resources = Resources()
        profile = store.refresh_profile(user, resources.optimizer_model_for(context), resources.retry,
                                        context.cold_start_below, context.recency_half_life_days)
        print("looking for stated preferences…", file=sys.stderr)
        found = stated_in(resources.agent_model_for(context), items, resources.retry)
        store.keep_stated(user, found)
        persona = store.current_persona(user)
        borrowed = neighbour_count(section(persona.text, TITLE))
        print(f"profile v{profile.version}; {len(found)} stated preference(s) found; "
              f"persona v{persona.version} ({persona.source})"
              + (f"; it borrows what {borrowed} similar users share until {user} has "
                 f"{context.cold_start_below} labelled interactions" if borrowed else ""))
    return 0


def origins(persona: str) -> list[str]:
    """One line per section of ``persona``: its title and where it came from. A borrowed section
    says from how many users, never which."""
    from ..memory.neighbours import TITLE, neighbour_count
    from ..persona.evidence import TITLE as EVIDENCE
    from ..persona.operators import EXAMPLES
    from ..persona.sections import LOOKUPS, split_sections
    from ..persona.stated import TITLE as STATED
    from ..prompts import KNOWN

    fixed = {KNOWN: "this user's profile, summarised from their own history",
             EVIDENCE: "computed from this user's own labelled history", EXAMPLES: "this user's own past interactions",
             STATED: "this user's own words", LOOKUPS: "the lookup rules (what the agent reads before answering)"}
    lines = []
    for title, body in split_sections(persona):
        if title == TITLE:
            where = (f"aggregated from {neighbour_count(body) or 'several'} similar users' profiles and histories "
                     "(who they are is not shown); dropped once this user has enough history of their own")
        else:
            where = fixed.get(title, "instructions: the starting template, or the optimizer's or a manual edit")
        lines.append(f"{title or '(opening)'}: {where}")
    return lines


def cmd_persona(args) -> int:
    from ..persona.stated import numbered_statements

    user, store = context_of(args).user_id, store_of(args)
    if args.persona_command == "forget":
        version = store.forget_statements(user, args.numbers)
        print(f"persona of {user} is now v{version.version}, without stated preference(s) "
              f"{', '.join(map(str, args.numbers))}")
        return 0
    if args.persona_command == "rollback":
        version = store.rollback_persona(user, args.to)
        print(f"persona of {user} is now v{version.version} (a copy of v{args.to})")
        return 0
    if args.persona_command == "diff":
        from ..services.optimize import persona_diff

        print(persona_diff(store, user, args.a, args.b) or f"v{args.a} and v{args.b} are identical")
        return 0
    if args.persona_command == "show":
        version = store.personas.get(user, args.version) if args.version else store.personas.latest(user)
        if version is None:
            print(f"{user} has no persona yet (it is created on the first chat turn or ingest)")
            return 1
        print(f"# persona v{version.version} ({version.source})\n{version.text}\n\n# where its parts come from:\n"
              + "\n".join(f"#   {line}" for line in origins(version.text))
              + f"\n\n# {numbered_statements(version.text)}")
        return 0
    history = store.personas.history(user)
    if not history:
        print(f"{user} has no persona yet")
        return 1
    for v in history:
        loss = "" if v.loss is None else f" loss={v.loss:.4f}"
        parent = "" if v.parent is None else f" parent=v{v.parent}"
        operator = f" ({v.extra['operator']})" if v.extra.get("operator") else ""
        print(f"v{v.version}  {_when(v.created_at)}  {v.source}{operator}{parent}{loss}  {len(v.text)} chars")
    return 0


def cmd_runs(args) -> int:
    user = context_of(args).user_id
    runs = store_of(args).runs.history(user)
    if not runs:
        print(f"no optimization runs for {user}")
    for run in runs:
        s = run["summary"]
        detail = f"  loss {s.get('initial_loss')} → {s.get('best_loss')}, {s.get('stop_reason')}" if s else ""
        print(f"{_when(run['started_at'])}  {run['trigger']:<9} {run['status']}{detail}")
    return 0


def add_commands(sub) -> None:
    ingest = sub.add_parser("ingest", help="load a user's history (JSONL) or knowledge (JSONL/CSV)",
                            description="History JSONL: one object per line with 'query' and "
                            "'ground_truth' or 'answer', optional 'feedback', 'timestamp' (ISO-8601 "
                            "or epoch seconds, 1900–2200), 'options' (the answer options the request "
                            "offered; a ground truth must be one of them), 'scale' ({low, high, step} "
                            "for a rating) and 'metadata'. Every line is validated first; a bad line "
                            "stores nothing. With --knowledge: items with 'text' (and 'id', 'title', "
                            "'metadata') for the user's knowledge collection.")
    ingest.add_argument("--user", required=True, help="user id")
    ingest.add_argument("file", help="path of the JSONL (or, with --knowledge, CSV) file")
    ingest.add_argument("--knowledge", action="store_true", help="load knowledge items instead of history")
    ingest.add_argument("--no-profile", action="store_true",
                        help="only store the history: no profile summary, initial persona or stated preferences "
                        "(no model call)")
    ingest.set_defaults(func=cmd_ingest)

    runs = sub.add_parser("runs", help="list a user's optimization runs (manual and background)")
    runs.add_argument("--user", required=True, help="user id")
    runs.set_defaults(func=cmd_runs)

    persona = sub.add_parser("persona", help="show, list, diff, roll back a user's persona versions, or forget "
                             "stated preferences")
    persona_sub = persona.add_subparsers(dest="persona_command", required=True, metavar="ACTION")
    show = persona_sub.add_parser("show", help="print the current (or a given) persona version")
    show.add_argument("--user", required=True, help="user id")
    show.add_argument("--version", type=int, help="version number (default: current)")
    history = persona_sub.add_parser("history", help="list every persona version with source and loss")
    history.add_argument("--user", required=True, help="user id")
    rollback = persona_sub.add_parser("rollback", help="make an earlier version current (as a new version)")
    rollback.add_argument("--user", required=True, help="user id")
    rollback.add_argument("--to", type=int, required=True, help="the version to restore")
    forget = persona_sub.add_parser("forget", help="drop stated preferences from the persona (as a new version)",
                                    description="Remove what the user stated, by the numbers `persona show` "
                                    "lists, from the persona's section of stated preferences. The persona "
                                    "gets a new version; earlier versions keep the statements.")
    forget.add_argument("--user", required=True, help="user id")
    forget.add_argument("numbers", type=int, nargs="+", help="the stated preferences to forget (1 is the oldest)")
    diff = persona_sub.add_parser("diff", help="unified diff between two persona versions")
    diff.add_argument("--user", required=True, help="user id")
    diff.add_argument("a", type=int, help="older version")
    diff.add_argument("b", type=int, help="newer version")
    persona.set_defaults(func=cmd_persona)
