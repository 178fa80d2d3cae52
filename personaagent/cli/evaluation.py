"""``personaagent eval``: load a dataset, run the ablation ladder, print the report."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import environment, recency
from ..errors import PersonaAgentError
from ..persona.settings import OptimizerSettings
from .common import context_of

DEFAULT_DATA = environment.path("PERSONAAGENT_DATA")


def cmd_eval(args) -> int:
    from ..eval.ladder import RUNGS, LadderSettings
    from ..eval.run import run_eval

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PersonaAgentError("`personaagent eval` needs the eval extra: pip install 'personaagent[eval]'") from None
    if args.versus and not (Path(args.versus) / "users").is_dir():
        raise PersonaAgentError(f"--versus {args.versus}: not a results folder (it has no users/ folder)")
    data = Path(args.data) if args.data else None
    if args.dataset == "statements":
        return _statements(args, data or DEFAULT_DATA / "prefeval")
    if args.dataset == "profiles":
        return _profiles(args, data or DEFAULT_DATA / "movielens-ml-latest-small")
    if args.dataset == "coldstart":
        return _coldstart(args, data or DEFAULT_DATA / "movielens-ml-latest-small")
    if args.dataset == "movielens":
        from ..eval.movielens import load_movielens

        users = load_movielens(data or DEFAULT_DATA / "movielens-ml-latest-small", n_users=args.users,
                               user_ids=args.user_ids.split(",") if args.user_ids else None, seed=args.seed,
                               test=args.test, min_span_days=args.min_span_days)
        title = f"MovieLens rating prediction ({len(users)} users" + \
            (f" whose evaluated ratings span more than {args.min_span_days:g} days)" if args.min_span_days else ")")
    elif args.dataset == "prefeval":
        from ..eval.prefeval import load_prefeval

        users = load_prefeval(data or DEFAULT_DATA / "prefeval", form=args.form, n_records=args.records, seed=args.seed,
                              distance=args.distance)
        title = f"PrefEval MCQ, {args.form} preference ({len(users)} records" + \
            (f", {args.distance} unrelated turns before the question)" if args.distance else ")")
    else:
        from ..eval.lamp import load_lamp

        if not (args.questions and args.outputs):
            raise PersonaAgentError("eval lamp needs --questions FILE and --outputs FILE")
        users = load_lamp(args.questions, args.outputs, task=args.task, limit=args.limit)
        title = f"{users[0].attribute if users else 'LaMP'} ({len(users)} questions)"
    rungs = _rungs(args, RUNGS)
    optimizer = optimizer_settings(args)
    settings = LadderSettings(optimizer=optimizer, rungs=rungs, option_orders=args.orders,
                              recency_half_life_days=recency.validated(args.recency_half_life))
    context = context_of(args)
    meta = {"title": title, "command": "personaagent " + " ".join(sys.argv[1:]), "model": _model_name(context),
            "settings": f"seed {args.seed}; optimizer: batch {optimizer.batch_size}, validation {optimizer.validation_size}, "
            f"{optimizer.candidates} candidates per iteration from {', '.join(optimizer.operators)}, margin "
            f"{optimizer.margin}, iterations ≤ {optimizer.max_iters}, loss {optimizer.metric}; concurrency {args.concurrency}; "
            f"choices read under {args.orders or 'every'} cyclic order(s) of their options; recency half-life "
            f"{f'{args.recency_half_life:g} days' if args.recency_half_life else 'off'}"}
    from ..resources import Resources

    out = Path(args.out or Path("results") / args.dataset)
    if args.versus:
        meta["versus"] = str(args.versus)
    report = run_eval(users, out, Resources(), settings, meta, concurrency=args.concurrency,
                      report_only=args.report_only, versus=Path(args.versus) if args.versus else None)
    print((out / "report.md").read_text())
    return 0 if report else 1


def _coldstart(args, data: Path) -> int:
    from ..eval import coldstart
    from ..eval.ladder import LadderSettings
    from ..eval.run import run_eval
    from ..memory.store import MemoryStore
    from ..resources import Resources

    try:
        ks = sorted({int(k) for k in args.k.split(",")})
    except ValueError:
        raise PersonaAgentError(f"--k takes comma-separated numbers of ratings (got {args.k!r})") from None
    settings = LadderSettings(optimizer=optimizer_settings(args), rungs=_rungs(args, coldstart.RUNGS),
                              option_orders=args.orders, cold_start_below=args.cold_start_below)
    context = context_of(args)
    prefix = Path(args.out or Path("results") / "coldstart")
    reports = {}
    for k in ks:
        users, pool = coldstart.load_coldstart(data, k=k, n_users=args.users, seed=args.seed, test=args.test,
                                               below=args.cold_start_below)
        out = coldstart.folder(prefix, k)
        resources = Resources()
        if not args.report_only:
            resources.memory = MemoryStore.open(out / "store")
            coldstart.ingest_pool(resources.memory, pool)
        meta = {"title": f"MovieLens cold start, first {k} ratings known ({len(users)} users)",
                "command": "personaagent " + " ".join(sys.argv[1:]), "model": _model_name(context),
                "settings": f"seed {args.seed}; {args.test} test ratings after the first {k}; neighbours compared by "
                f"their first {args.cold_start_below} ratings, drawn from the {len({i.user_id for i in pool})} users "
                f"not drawn, each only where that rating precedes the user's first test rating"}
        reports[k] = run_eval(users, out, resources, settings, meta, concurrency=args.concurrency,
                              report_only=args.report_only)
    if len(ks) > 1:
        print(coldstart.gap_report(reports, Path(f"{prefix}-gap")))
    else:
        print((coldstart.folder(prefix, ks[0]) / "report.md").read_text())
    return 0


def _rungs(args, default: tuple[str, ...]) -> tuple[str, ...]:
    """The rungs ``--rungs`` names (``default`` when it names none), or a clear error."""
    from ..eval.ladder import RUNGS

    rungs = tuple(args.rungs.split(",")) if args.rungs else default
    if unknown := set(rungs) - set(RUNGS):
        raise PersonaAgentError(f"unknown rung(s) {sorted(unknown)}; choose from {', '.join(RUNGS)}")
    return rungs


def _statements(args, data: Path) -> int:
    from ..eval.statements import measure
    from ..resources import Resources

    context = context_of(args)
    resources = Resources()
    model = resources.agent_model_for(context)
    meta = {"command": "personaagent " + " ".join(sys.argv[1:]), "model": _model_name(context)}
    out = Path(args.out or Path("results") / "stated-detection")
    measure(data, out, model, resources.memory_for(context).embedder, meta, records=args.records, seed=args.seed,
            retry=resources.retry)
    print((out / "report.md").read_text())
    return 0


def _profiles(args, data: Path) -> int:
    from ..eval.movielens import load_movielens
    from ..eval.profiles import measure
    from ..memory.ingest import read_history
    from ..resources import Resources
    from ..services.demo import SAMPLE_USERS, demo_file

    context = context_of(args)
    resources = Resources()
    movielens = load_movielens(data, n_users=args.users, seed=args.seed, test=args.test)
    groups = {"demo users": {u: read_history(u, demo_file(f"{u}.jsonl")) for u in SAMPLE_USERS},
              f"MovieLens users (seed {args.seed})": {u.user_id: u.history for u in movielens}}
    out = Path(args.out or Path("results") / "profile-check")
    measure(groups, out, resources.agent_model_for(context),
            {"command": "personaagent " + " ".join(sys.argv[1:]), "model": _model_name(context)}, resources.retry)
    print((out / "report.md").read_text())
    return 0


def _model_name(context) -> str:
    endpoint = context.agent_model()
    return f"{endpoint.model or 'default'} at {endpoint.base_url}" if endpoint.is_remote else \
        "embedded Qwen2.5-Coder-1.5B-Instruct Q4_K_M (llama.cpp, CPU)"


def optimizer_settings(args) -> OptimizerSettings:
    """The optimizer's settings from ``eval``'s flags (flags left out take their defaults)."""
    return OptimizerSettings.of(batch_size=args.batch_size, validation_size=args.validation,
                                candidates=args.candidates, max_iters=args.iters, margin=args.margin, metric=args.metric,
                                operators=args.operators.split(",") if args.operators else None)


def add_commands(sub) -> None:
    ev = sub.add_parser("eval", help="the ablation ladder on MovieLens, PrefEval or LaMP-format data",
                        description="Answer each user's test items several ways (non-personalized, memory only, "
                        "persona from the profile, on a cold start that persona with what similar users share, the default path "
                        "(that persona keeping what the user stated), "
                        "the default persona with computed evidence, the same reading the item catalogue where the "
                        "dataset has one, an oracle persona told the preference where the dataset states it, full "
                        "with test-time alignment) with the same model; write report.json, report.md and PNG plots to --out. Each user's answers are "
                        "recorded there (OUT/users, no dataset content), so an interrupted run resumes, on this "
                        "machine or another, and unchanged rungs are reused.")
    ev.add_argument("dataset", choices=["movielens", "prefeval", "lamp", "statements", "profiles", "coldstart"],
                    help="statements: how well stated preferences are found and told apart by subject, on "
                    "PrefEval's turns (--records, --seed, --out); profiles: how often a profile contradicts the "
                    "user's history before and after the check, on the demo's users and MovieLens users (--users, "
                    "--seed, --out); neither runs the ladder. coldstart: MovieLens users known by their first --k "
                    "ratings, tested on their next --test; non-personalized, the thin persona and the neighbour-seeded "
                    "persona beside the baselines, one folder per k (OUT-k3 …, default OUT results/coldstart) and, for "
                    "several k, OUT-gap with how the gap closes")
    ev.add_argument("--data", help=f"dataset folder (default: {DEFAULT_DATA}/<dataset folder>)")
    ev.add_argument("--out", help="results folder (default: results/<dataset>)")
    ev.add_argument("--users", type=int, default=40, help="MovieLens (and profiles, coldstart): number of users drawn with --seed "
                    "(default 40)")
    ev.add_argument("--user-ids", help="MovieLens: comma-separated user ids instead of --users")
    ev.add_argument("--min-span-days", type=float, default=0.0, metavar="D",
                    help="MovieLens: draw only users whose ratings in the evaluation (the history kept and the "
                    "test) span more than D days (default 0: any)")
    ev.add_argument("--test", type=int, default=5, help="MovieLens, coldstart: test ratings per user (default 5)")
    ev.add_argument("--records", type=int, default=100, help="PrefEval (and statements): records, spread over "
                    "topics (default 100)")
    ev.add_argument("--form", default="choice", choices=["explicit", "choice", "persona"],
                    help="PrefEval: the form the preference is given in (default choice)")
    ev.add_argument("--questions", help="LaMP: questions JSON file")
    ev.add_argument("--outputs", help="LaMP: outputs (golds) JSON file")
    ev.add_argument("--task", help="LaMP: task name, if the outputs file does not say")
    ev.add_argument("--limit", type=int, help="LaMP: first N questions only")
    ev.add_argument("--seed", type=int, default=0, help="sampling and option-shuffling seed (default 0)")
    ev.add_argument("--batch-size", type=int, help="optimizer: the batch N the critique reflects on (default 3)")
    ev.add_argument("--validation", type=int, help="optimizer: labelled interactions before the batch that "
                    "candidates are also judged on (default 8)")
    ev.add_argument("--candidates", type=int, help="optimizer: candidates per iteration (default 2)")
    ev.add_argument("--operators", help="optimizer: comma-separated edit operators, taken in turn "
                    f"(default {','.join(OptimizerSettings().operators)})")
    ev.add_argument("--margin", type=float, help="optimizer: minimum mean loss improvement to accept (default 0.01)")
    ev.add_argument("--iters", type=int, help="optimizer: iterations at most (default 2)")
    ev.add_argument("--metric", choices=["auto", "median"], help="optimizer: per-sample loss (default auto: "
                    "1 − p(the user's pick), or a rating's expected absolute error; median: a rating's loss is the "
                    "absolute error of its distribution's median, what MAE measures)")
    ev.add_argument("--concurrency", type=int, default=1, help="users evaluated in parallel (default 1)")
    ev.add_argument("--orders", type=int, default=0, metavar="K",
                    help="option questions: answer each under K cyclic orders of its options (0, the default: every "
                    "order, so the report compares reading one order, two, every order, and dividing out the letter "
                    "prior)")
    ev.add_argument("--distance", type=int, default=0, metavar="N",
                    help="PrefEval: N unrelated turns from other topics' records between the preference and the "
                    "question (default 0)")
    ev.add_argument("--recency-half-life", type=float, default=0.0, metavar="DAYS",
                    help="every rung but the bare model weights the user's history by recency with this half-life "
                    "(Context.recency_half_life_days: retrieval, the profile check, the evidence, the optimizer's "
                    "windows; default 0: off)")
    ev.add_argument("--k", default="3,5,10", help="coldstart: comma-separated numbers of first ratings known "
                    "(default 3,5,10)")
    ev.add_argument("--cold-start-below", type=int, default=20, metavar="N",
                    help="coldstart: similar users are compared by their first N ratings and must have N (default 20; "
                    "Context.cold_start_below)")
    ev.add_argument("--rungs", help="comma-separated subset of non_personalized,memory_only,persona,neighbours,default,"
                    "evidence,catalogue,oracle,full (catalogue: only where the dataset gives an item catalogue, MovieLens; "
                    "oracle, a ceiling that reads the preference as the dataset states it: only PrefEval; neighbours: "
                    "only coldstart, whose default is non_personalized,persona,neighbours)")
    ev.add_argument("--report-only", action="store_true",
                    help="run nothing: write the report from the users already finished (cached) in --out")
    ev.add_argument("--versus", metavar="DIR",
                    help="another run's results folder on the same users (e.g. an earlier optimizer): the report "
                    "adds each rung against that run's where their answers differ (another optimizer, the same records "
                    "at another distance), paired by user")
    ev.set_defaults(func=cmd_eval)
