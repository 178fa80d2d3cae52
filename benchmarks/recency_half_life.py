"""A candidate recency half-life (``Context.recency_half_life_days``) from MovieLens data alone, no
model::

    .venv/bin/python benchmarks/recency_half_life.py [--data ../shared/data/movielens-ml-latest-small]

Users whose ratings span more than a year. Each of their ratings made at least a year after their
first is held out and predicted from their ratings made strictly before it, each weighing
``0.5 ** (age_days / half_life)`` (``personaagent.recency``; age from the held-out rating's time),
two ways:

- ``mean``: the recency-weighted mean of the user's earlier ratings;
- ``bias``: the item's mean over the other users (shrunk to the global mean, λ = 25) plus the
  recency-weighted mean of the user's earlier deviations from their items' means.

For each half-life of the grid (0 = unweighted) it prints the MAE over all held-out ratings and the
change against unweighted with a paired bootstrap 95 % interval that resamples users (their
held-out ratings are not independent), then the candidate: the half-life with the lowest MAE whose
interval lies below 0 for both predictors, or 0 when none does. Ratings come in sessions, so
``--gap-days 1`` predicts each from ratings made more than a day before it only: how much of the
gain is more than the same sitting. The item means use every other
user's ratings, later ones included: the same for every half-life, so the comparison is fair
though the absolute MAEs are a little optimistic. Numpy only; a few seconds.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "movielens-ml-latest-small"
GRID = (0, 30, 90, 180, 365, 730, 1460)
DAY_S = 86_400.0
MIN_SPAN_DAYS = 365
ITEM_SHRINK = 25.0
BOOTSTRAP = 2000


def load(data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    path = data / "ratings.csv"
    if not path.is_file():
        sys.exit(f"no MovieLens ratings at {path}: put ml-latest-small there (see ../shared/data's SOURCE.md) "
                 "or pass --data DIR")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return (np.array([int(r["userId"]) for r in rows]), np.array([int(r["movieId"]) for r in rows]),
            np.array([float(r["rating"]) for r in rows]), np.array([float(r["timestamp"]) for r in rows]))


def item_means_without(users, items, ratings) -> np.ndarray:
    """For each rating, its item's mean over the other users' ratings, shrunk to the global mean."""
    mu = ratings.mean()
    _, index = np.unique(items, return_inverse=True)
    sums, counts = np.bincount(index, ratings - mu), np.bincount(index)
    others = sums[index] - (ratings - mu)
    return mu + others / (ITEM_SHRINK + counts[index] - 1)


def user_errors(times, ratings, baselines, half_lives, gap_days: float = 0.0) -> tuple[np.ndarray, np.ndarray] | None:
    """Absolute errors (predictor × half-life × held-out rating) of one user's held-out ratings,
    each predicted from the ratings made more than ``gap_days`` before it."""
    held = np.flatnonzero(times >= times.min() + MIN_SPAN_DAYS * DAY_S)
    if held.size == 0:
        return None
    age_days = (times[held, None] - times[None, :]) / DAY_S  # held-out × all ratings
    earlier = age_days > gap_days
    keep = earlier.any(axis=1)
    held, age_days, earlier = held[keep], age_days[keep], earlier[keep]
    mean_err, bias_err = [], []
    for h in half_lives:
        w = np.where(earlier, 1.0 if h == 0 else 0.5 ** (np.where(earlier, age_days, 0) / max(h, 1e-9)), 0.0)
        total = w.sum(axis=1)
        mean_err.append(np.abs(w @ ratings / total - ratings[held]))
        deviation = w @ (ratings - baselines) / total
        bias_err.append(np.abs(np.clip(baselines[held] + deviation, 0.5, 5.0) - ratings[held]))
    return np.array(mean_err), np.array(bias_err)


def bootstrap_interval(errors: list[np.ndarray], column: int, rng) -> tuple[float, float]:
    """95 % interval of MAE(column) − MAE(0), users resampled with replacement."""
    diffs = np.array([(e[column] - e[0]).sum() for e in errors])
    counts = np.array([e.shape[1] for e in errors])
    picks = rng.integers(0, len(errors), size=(BOOTSTRAP, len(errors)))
    changes = diffs[picks].sum(axis=1) / counts[picks].sum(axis=1)
    return float(np.percentile(changes, 2.5)), float(np.percentile(changes, 97.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the ml-latest-small folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gap-days", type=float, default=0.0,
                        help="predict from ratings made more than this many days before (1: leave out the same session)")
    args = parser.parse_args()
    users, items, ratings, times = load(args.data)
    baselines = item_means_without(users, items, ratings)
    found = {"mean": [], "bias": []}
    for user in np.unique(users):
        mine = np.flatnonzero(users == user)
        if np.ptp(times[mine]) <= MIN_SPAN_DAYS * DAY_S:
            continue
        errors = user_errors(times[mine], ratings[mine], baselines[mine], GRID, args.gap_days)
        if errors is not None and errors[0].shape[1]:
            found["mean"].append(errors[0])
            found["bias"].append(errors[1])
    held = sum(e.shape[1] for e in found["mean"])
    print(f"{len(found['mean'])} users with ratings spanning more than {MIN_SPAN_DAYS} days; "
          f"{held} held-out ratings made a year or more after the user's first")
    rng = np.random.default_rng(args.seed)
    better: dict[int, list[float]] = {}
    for name, errors in found.items():
        print(f"\n{name}: half-life (days), MAE, change against unweighted [95 % paired bootstrap over users]")
        total = np.concatenate(errors, axis=1)
        for column, h in enumerate(GRID):
            mae = total[column].mean()
            low, high = bootstrap_interval(errors, column, rng) if column else (0.0, 0.0)
            print(f"  {h:>5}  {mae:.4f}  {mae - total[0].mean():+.4f} [{low:+.4f}, {high:+.4f}]")
            if high < 0:
                better.setdefault(h, []).append(mae)
    candidates = [h for h, maes in better.items() if len(maes) == len(found)]
    best = min(candidates, key=lambda h: sum(better[h])) if candidates else 0
    print(f"\ncandidate half-life: {best} days" + ("" if candidates else " (no half-life was better for both)"))


if __name__ == "__main__":
    main()
