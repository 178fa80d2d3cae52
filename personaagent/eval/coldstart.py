"""MovieLens as a cold start: each drawn user's first ``k`` ratings are all the agent knows of them,
and their next ``test`` ratings (each made after the ``k``-th) are the test. The model-free
baselines are fitted on the same ``k`` ratings (the user's) and on every rating made before the
first test rating (the global and item figures), as in ``movielens``.

The neighbour pool is every user not drawn, each by their first ``below`` ratings: the number the
neighbours rung compares users by and requires of a neighbour (``Context.cold_start_below``). A drawn
user may borrow only from pool users whose ``below``-th rating precedes that user's first test
rating, so nothing borrowed was rated after it.

Users are drawn by walking every user in an order shuffled with the seed and keeping the first
``n_users`` who have ``test`` ratings after their first ``k``: runs at several ``k`` share their
users wherever the users qualify at each.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

from ..memory.episodic import Interaction
from .movielens import read_movielens, rating_interaction, user_from_split
from .types import DatasetError, EvalUser


def load_coldstart(root: str | Path, *, k: int, n_users: int = 40, seed: int = 0, test: int = 5,
                   below: int = 20) -> tuple[list[EvalUser], list[Interaction]]:
    """(the drawn users, each with their neighbour pool; the pool's interactions to ingest)."""
    if k < 1 or test < 1 or n_users < 1:
        raise DatasetError(f"a cold start needs k >= 1, test >= 1 and users >= 1 (got k={k}, test={test}, users={n_users})")
    if below <= k:
        raise DatasetError(f"the neighbour threshold ({below}) must exceed k ({k}): a user with k ratings is then still new")
    movies, by_user, ratings = read_movielens(root)
    order = sorted(by_user, key=int)
    random.Random(seed).shuffle(order)
    chosen: dict[str, tuple[list, list]] = {}
    for uid in order:
        rows = by_user[uid]
        if len(rows) < k:
            continue
        future = [row for row in rows[k:] if row[0] > rows[k - 1][0]][:test]
        if len(future) == test:
            chosen[uid] = (rows[:k], future)
        if len(chosen) == n_users:
            break
    if not chosen:
        raise DatasetError(f"no MovieLens user has {test} ratings after their first {k}")
    pool = {uid: rows[:below] for uid, rows in by_user.items() if uid not in chosen and len(rows) >= below}
    users = []
    for uid in sorted(chosen, key=int):
        past, future = chosen[uid]
        user = user_from_split(uid, past, future, movies, ratings, history_max=k)
        user.neighbour_pool = frozenset(f"ml-{p}" for p, rows in pool.items() if rows[-1][0] < future[0][0])
        users.append(user)
    interactions = [rating_interaction(p, t, m, r, movies) for p in sorted(pool, key=int) for t, m, r in pool[p]]
    return users, interactions


def ingest_pool(memory, interactions: list[Interaction]) -> int:
    """Store the pool's interactions, user by user, where a user's stored episodes are not exactly
    theirs in number (a resumed run skips the rest); returns how many users were (re)written."""
    by_user: dict[str, list[Interaction]] = defaultdict(list)
    for item in interactions:
        by_user[item.user_id].append(item)
    stale = [uid for uid, items in by_user.items() if memory.episodes.count(uid) != len(items)]
    for uid in stale:
        memory.forget_user(uid)
    memory.episodes.add([item for uid in stale for item in by_user[uid]])
    return len(stale)


RUNGS = ("non_personalized", "persona", "neighbours")  # the ladder's rungs a cold start compares
SERIES = (("non_personalized", "non-personalized"), ("persona", "thin persona (own k ratings)"),
          ("neighbours", "neighbour-seeded"))
BASELINE_SERIES = ("user mean", "item mean", "bias baseline")
PAIRS = ("neighbours vs persona", "neighbours vs non_personalized", "neighbours vs bias baseline",
         "neighbours vs user mean", "neighbours vs item mean")


def folder(prefix: str | Path, k: int) -> Path:
    """Where the run at ``k`` is written: ``PREFIX-k<k>``."""
    return Path(f"{prefix}-k{k}")


def gap_report(reports: dict[int, dict], out: Path) -> str:
    """How the gap closes as ``k`` grows, from each k's report: ``out/report.md`` (MAE of every
    rung and baseline by k, and the neighbour-seeded rung's paired differences) and
    ``out/gap.png``; returns the Markdown."""
    from .plots import plot_by_k

    ks = sorted(reports)
    series: dict[str, list] = {}
    for rung, label in SERIES:
        series[label] = [_point(reports[k]["rungs"].get(rung)) for k in ks]
    for name in BASELINE_SERIES:
        series[f"baseline: {name}"] = [_point(reports[k].get("baselines", {}).get(name)) for k in ks]
    out.mkdir(parents=True, exist_ok=True)
    plot_by_k(ks, series, out / "gap.png", metric="MAE (lower is better)",
              title="MovieLens cold start: MAE by the number of ratings known")
    lines = ["# Cold start: how the gap closes as k grows", "",
             "Each column is the run in the folder beside this one (`coldstart-k<k>`): the same users, their first k "
             "ratings known, their next ratings the test. MAE with its 95% bootstrap interval over users.", "",
             "| | " + " | ".join(f"k = {k} ({reports[k]['users']} users)" for k in ks) + " |",
             "|---|" + "---|" * len(ks)]
    lines += [f"| {label} | " + " | ".join(_cell(p) for p in points) + " |" for label, points in series.items()]
    lines += ["", "Paired differences in MAE (negative: the neighbour-seeded rung is better), 95% interval over "
              "users, and the report's reading:", "", "| comparison | " + " | ".join(f"k = {k}" for k in ks) + " |",
              "|---|" + "---|" * len(ks)]
    for pair in PAIRS:
        found = [reports[k]["paired"].get(pair) for k in ks]
        if any(found):
            lines.append(f"| {pair} | " + " | ".join(
                f"{p['delta']:+.3f} [{p['ci95'][0]:+.3f}, {p['ci95'][1]:+.3f}]: {p['verdict']}" if p else "—"
                for p in found) + " |")
    borrowed = [reports[k].get("neighbours") for k in ks]
    if any(borrowed):
        lines += ["", "A section was borrowed for " + ", ".join(
            f"{b['borrowed']} of {b['users']} users at k = {k}" for k, b in zip(ks, borrowed) if b) + "."]
    lines += ["", "![MAE by k](gap.png)", ""]
    text = "\n".join(lines)
    (out / "report.md").write_text(text)
    return text


def _point(row: dict | None) -> tuple[float, float, float] | None:
    if not row or row.get("MAE") is None:
        return None
    low, high = row["MAE_ci95"]
    return (row["MAE"], low, high)


def _cell(point: tuple[float, float, float] | None) -> str:
    return "—" if point is None else f"{point[0]:.3f} [{point[1]:.3f}, {point[2]:.3f}]"
