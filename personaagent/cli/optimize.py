"""``personaagent optimize``: one user (with progress and resume) or many at once."""

from __future__ import annotations

import sys
from typing import get_args

from ..persona.settings import DEFAULT_CONCURRENCY, OptimizerSettings
from .common import context_of, home, model_failure


def settings_of(args) -> OptimizerSettings:
    return OptimizerSettings.of(
        batch_size=args.batch_size, validation_size=args.validation, candidates=args.candidates,
        operators=args.operators.split(",") if args.operators else None, margin=args.margin, max_iters=args.iters,
        patience=args.patience, max_calls=args.budget, metric=args.metric)


def cmd_optimize(args) -> int:
    from tqdm import tqdm

    from ..memory import memory_for
    from ..services.optimize import format_number, format_summary, run_optimizer
    from ..resources import Resources

    settings = settings_of(args)
    if args.users:
        return optimize_many(args, settings)
    context = context_of(args)
    with memory_for(context).checkpointer(home(args) / "optimizer.sqlite") as saver, \
            tqdm(total=settings.max_iters + 1, desc=f"optimize {context.user_id}", unit="iter", file=sys.stderr) as bar:
        def progress(point):
            bar.set_postfix_str(f"iter {point['iteration']}: loss {format_number(point['loss'])} ({point['outcome']})")
            bar.update(1)

        summary = run_optimizer(context, Resources(), settings, saver, restart=args.restart, on_iteration=progress)
    print(format_summary(summary))
    return 0


def optimize_many(args, settings: OptimizerSettings) -> int:
    """``optimize --users``: one line per user as each finishes; exit 1 if any failed."""
    from ..services.optimize import format_number, optimize_users
    from ..resources import Resources

    users = [u.strip() for u in args.users.split(",") if u.strip()]
    contexts = [context_of(args, user) for user in users]

    def report(user: str, result) -> None:
        if isinstance(result, BaseException):
            print(f"{user}: failed: {model_failure(result) or result}")
        else:
            print(f"{user}: loss {format_number(result.get('initial_loss'))} → {format_number(result.get('best_loss'))}, "
                  f"{result.get('accepted')} accepted, stop {result.get('stop_reason')}, persona v{result.get('final_version')}")
        sys.stdout.flush()

    results = optimize_users(contexts, Resources(), settings, concurrency=args.concurrency, on_done=report)
    failed = sum(isinstance(r, BaseException) for r in results.values())
    print(f"{len(users) - failed} of {len(users)} users optimized")
    return 1 if failed else 0


def add_commands(sub) -> None:
    defaults = OptimizerSettings()
    optimize = sub.add_parser("optimize", help="optimize a user's persona on their latest labelled interactions",
                              description="Test-time persona alignment: re-answer the user's latest labelled "
                              "interactions under the current persona, critique the misses of the latest ones, "
                              "rewrite the persona into candidates with several edit operators, and keep a candidate only if it "
                              "beats the current persona on the same samples (the batch and an older validation "
                              "window) by the margin, winning more samples than it loses. An interrupted run "
                              "resumes on the next call (state in HOME/optimizer.sqlite, or in the database when "
                              "the memory is on Postgres: then from any machine) unless --restart.")
    who = optimize.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="user id")
    who.add_argument("--users", help="comma-separated user ids, optimized --concurrency at a time (no resume)")
    optimize.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY,
                          help=f"with --users: optimizations at once (default {DEFAULT_CONCURRENCY})")
    optimize.add_argument("--batch-size", type=int,
                          help=f"latest labelled interactions the critique reflects on (default {defaults.batch_size})")
    optimize.add_argument("--validation", type=int, help="labelled interactions before the batch that candidates are "
                          f"also judged on (default {defaults.validation_size})")
    optimize.add_argument("--candidates", type=int, help=f"candidates per iteration (default {defaults.candidates})")
    optimize.add_argument("--operators", help="comma-separated edit operators, taken in turn "
                          f"(default {','.join(defaults.operators)})")
    optimize.add_argument("--margin", type=float, help=f"minimum mean loss improvement to accept (default {defaults.margin})")
    optimize.add_argument("--iters", type=int, help=f"maximum critique/rewrite iterations (default {defaults.max_iters})")
    optimize.add_argument("--patience", type=int,
                          help=f"stop after this many iterations in a row with nothing accepted (default {defaults.patience})")
    optimize.add_argument("--budget", type=int, help="model-call budget for the run (default: none)")
    optimize.add_argument("--metric", choices=list(get_args(OptimizerSettings.model_fields["metric"].annotation)),
                          help="per-sample loss (default auto: closed where answers have options or a scale); "
                          "median: as closed, but a rating's loss is the error of its median, what MAE measures")
    optimize.add_argument("--restart", action="store_true", help="start over instead of resuming an interrupted run")
    optimize.set_defaults(func=cmd_optimize)
