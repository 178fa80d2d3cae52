"""MovieLens (ml-latest-small) as per-user rating prediction with a time split.

Per user, ratings sorted by time: the last ``test`` are the test set; everything before is the
user's history (memory, capped to the latest ``history_max``). The optimizer aligns on the latest
labelled history items, so the batch is the N ratings just before the test cut. Model-free
baselines (global, user and item means) use only ratings made before the user's cut.
"""

from __future__ import annotations

import bisect
import csv
import random
from collections import Counter, defaultdict
from pathlib import Path
from statistics import fmean

from ..memory.episodic import Interaction
from .types import DatasetError, EvalItem, EvalUser

RATING_INSTRUCTION = "Reply with a rating from 0.5 to 5 (in steps of 0.5)."


def rating_query(title: str, genres: str) -> str:
    return f'How would I rate the movie "{title}" ({genres.replace("|", ", ")})? {RATING_INSTRUCTION}'


def _read_csv(path: Path, columns: set[str]) -> list[dict]:
    if not path.exists():
        raise DatasetError(f"{path}: file not found (expected MovieLens ml-latest-small)")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = columns - set(reader.fieldnames or [])
        if missing:
            raise DatasetError(f"{path}: missing column(s) {sorted(missing)}")
        return list(reader)


class _Means:
    """Means of ratings made strictly before a time, overall and per movie (prefix sums)."""

    def __init__(self, rows: list[tuple[float, int, float, str]]):
        rows = sorted(rows)
        self.times = [t for t, _, _, _ in rows]
        self.prefix = [0.0]
        for _, _, r, _ in rows:
            self.prefix.append(self.prefix[-1] + r)
        self.by_movie: dict[int, list[tuple[float, float, str]]] = defaultdict(list)
        for t, movie, r, user in rows:
            self.by_movie[movie].append((t, r, user))

    def global_before(self, t: float) -> float | None:
        n = bisect.bisect_left(self.times, t)
        return self.prefix[n] / n if n else None

    def movie_before(self, movie: int, t: float, user: str) -> float | None:
        """Mean rating of ``movie`` by other users before ``t``."""
        seen = [r for time, r, who in self.by_movie.get(movie, []) if time < t and who != user]
        return fmean(seen) if seen else None


def load_movielens(
    root: str | Path, *, n_users: int | None = 20, user_ids: list[str] | None = None, seed: int = 0,
    test: int = 3, history_max: int = 60, min_history: int = 10,
) -> list[EvalUser]:
    root = Path(root)
    movies = {int(r["movieId"]): (r["title"], r["genres"]) for r in _read_csv(root / "movies.csv", {"movieId", "title", "genres"})}
    ratings = _read_csv(root / "ratings.csv", {"userId", "movieId", "rating", "timestamp"})
    by_user: dict[str, list[tuple[float, int, float]]] = defaultdict(list)
    all_rows = []
    for n, r in enumerate(ratings, 2):
        try:
            row = (float(r["timestamp"]), int(r["movieId"]), float(r["rating"]))
        except ValueError:
            raise DatasetError(f"{root / 'ratings.csv'} line {n}: not a number in {r}") from None
        by_user[r["userId"]].append(row)
        all_rows.append((*row, r["userId"]))
    means = _Means(all_rows)
    for rows in by_user.values():
        rows.sort()
    eligible = sorted((u for u, rows in by_user.items() if len(rows) > test
                       and bisect.bisect_left(rows, (rows[-test][0],)) >= min_history), key=int)
    if user_ids:
        unknown = [u for u in user_ids if u not in by_user]
        if unknown:
            raise DatasetError(f"MovieLens has no user(s) {unknown}")
        chosen = list(user_ids)
    else:
        chosen = sorted(random.Random(seed).sample(eligible, min(n_users or len(eligible), len(eligible))), key=int)
    return [_user(u, by_user[u], movies, means, test, history_max) for u in chosen]


def _user(uid: str, rows, movies, means: _Means, test: int, history_max: int) -> EvalUser:
    # MovieLens users often rate several movies in the same second: the cut is a time, so the
    # history is strictly older than every test item (ratings at the cut beyond ``test`` are unused).
    cut = rows[-test][0]
    past = [row for row in rows if row[0] < cut]
    future = [row for row in rows if row[0] >= cut][:test]
    history = [
        Interaction(user_id=f"ml-{uid}", query=rating_query(*movies[m]), ground_truth=f"{r:g}", timestamp=t,
                    metadata={"domain": "movies", "genres": movies[m][1]}, source="ingest")
        for t, m, r in past[-history_max:]
    ]
    liked = Counter(g for _, m, r in past if r >= 4 for g in movies[m][1].split("|"))
    items = [
        EvalItem(id=f"ml-{uid}-{m}", query=rating_query(*movies[m]), ground_truth=f"{r:g}", timestamp=t,
                 attributes={"movie_id": m, "title": movies[m][0],
                             "item_mean": means.movie_before(m, cut, uid)})
        for t, m, r in future
    ]
    if not past:
        raise DatasetError(f"MovieLens user {uid} has no ratings before their last {test}")
    return EvalUser(
        user_id=f"ml-{uid}", history=history, test=items, metric="rating",
        attribute=liked.most_common(1)[0][0] if liked else "(none)",
        extra={"user_mean": fmean(r for _, _, r in past), "global_mean": means.global_before(cut)},
    )
