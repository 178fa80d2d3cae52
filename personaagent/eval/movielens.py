"""MovieLens (ml-latest-small) as per-user rating prediction with a time split.

Per user, ratings sorted by time: the last ``test`` are the test set; everything before is the
user's history (memory, capped to the latest ``history_max``). The optimizer aligns on the latest
labelled history items, so the batch is the ratings just before the test cut. Every request
states the rating scale (0.5–5 in half steps), so answers are read from the model's distribution.

Model-free baselines for each test rating are fitted only on ratings made before that user's cut
(every user's, for the global and item figures): the global mean, the user's mean and median
(the median is the constant that minimises absolute error), the item's mean over other users
(the user's mean where nobody rated it yet), and the regularised bias baseline
μ + b_user + b_item (Koren, "Factor in the Neighbors", 2010: b_item = Σ(r − μ) / (λ_item + n),
then b_user = Σ(r − μ − b_item) / (λ_user + n), with λ_item = 25 and λ_user = 10), clipped to
the scale.

Each user also gets an item catalogue for their knowledge collection: one entry per movie in their
history and test set with the other users' ratings of it made before the cut (count and average),
the figures the item-mean baseline uses. Only a persona whose lookup rules read knowledge for
ratings sees it (the ladder's ``catalogue`` rung; the default rules do not).
"""

from __future__ import annotations

import bisect
import csv
import random
from collections import Counter, defaultdict
from pathlib import Path
from statistics import fmean, median

from ..memory.episodic import Interaction
from ..memory.knowledge import KnowledgeItem
from .types import DatasetError, EvalItem, EvalUser

SCALE = {"low": 0.5, "high": 5.0, "step": 0.5}
LAMBDA_ITEM = 25.0
LAMBDA_USER = 10.0
DAY_S = 86_400.0
BASELINES = ("global mean", "user mean", "user median", "item mean", "bias baseline")


def rating_query(title: str, genres: str) -> str:
    return f'How would I rate the movie "{title}" ({genres.replace("|", ", ")})?'


def catalogue_entry(movie: int, title: str, genres: str, others: list[float]) -> KnowledgeItem:
    """What the catalogue says of a movie: the other users' ratings of it before the cut."""
    if others:
        figures = f"other users' average rating {fmean(others):.1f} out of 5, from {len(others)} rating(s)"
    else:
        figures = "no other user had rated it yet"
    return KnowledgeItem(id=f"movie-{movie}", title=f'"{title}" ({genres.replace("|", ", ")})', text=figures,
                         metadata={"movie_id": movie, "ratings": len(others)})


def _read_csv(path: Path, columns: set[str]) -> list[dict]:
    if not path.exists():
        raise DatasetError(f"{path}: file not found (expected MovieLens ml-latest-small)")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = columns - set(reader.fieldnames or [])
        if missing:
            raise DatasetError(f"{path}: missing column(s) {sorted(missing)}")
        return list(reader)


class _Ratings:
    """Every rating, with what the baselines need to know about the ratings before a time."""

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

    def movie_before(self, movie: int, t: float, exclude: str | None = None) -> list[float]:
        return [r for time, r, who in self.by_movie.get(movie, []) if time < t and who != exclude]

    def item_bias(self, movie: int, t: float, mu: float) -> float:
        seen = self.movie_before(movie, t)
        return sum(r - mu for r in seen) / (LAMBDA_ITEM + len(seen))


def baselines(ratings: _Ratings, uid: str, past: list[tuple[float, int, float]], movies: list[int],
              cut: float) -> list[dict[str, float]]:
    """The model-free predictions of ``uid``'s ratings of ``movies``, from ratings before ``cut``."""
    mu = ratings.global_before(cut) or fmean(r for _, _, r in past)
    user_mean, user_median = fmean(r for _, _, r in past), median(r for _, _, r in past)
    b_user = sum(r - mu - ratings.item_bias(m, cut, mu) for _, m, r in past) / (LAMBDA_USER + len(past))
    out = []
    for movie in movies:
        others = ratings.movie_before(movie, cut, exclude=uid)
        bias = mu + b_user + ratings.item_bias(movie, cut, mu)
        out.append({"global mean": mu, "user mean": user_mean, "user median": user_median,
                    "item mean": fmean(others) if others else user_mean,
                    "bias baseline": min(max(bias, SCALE["low"]), SCALE["high"])})
    return out


Movies = dict[int, tuple[str, str]]  # movie id → (title, genres)
UserRows = dict[str, list[tuple[float, int, float]]]  # user id → (time, movie id, rating), oldest first


def read_movielens(root: str | Path) -> tuple[Movies, UserRows, _Ratings]:
    """The movies, each user's ratings in time order, and every rating for the baselines."""
    root = Path(root)
    movies = {int(r["movieId"]): (r["title"], r["genres"]) for r in _read_csv(root / "movies.csv", {"movieId", "title", "genres"})}
    rows = _read_csv(root / "ratings.csv", {"userId", "movieId", "rating", "timestamp"})
    by_user: UserRows = defaultdict(list)
    all_rows = []
    for n, r in enumerate(rows, 2):
        try:
            row = (float(r["timestamp"]), int(r["movieId"]), float(r["rating"]))
        except ValueError:
            raise DatasetError(f"{root / 'ratings.csv'} line {n}: not a number in {r}") from None
        by_user[r["userId"]].append(row)
        all_rows.append((*row, r["userId"]))
    for user_rows in by_user.values():
        user_rows.sort()
    return movies, dict(by_user), _Ratings(all_rows)


def rating_interaction(uid: str, time: float, movie: int, rating: float, movies: Movies) -> Interaction:
    """One past rating as the labelled interaction memory holds."""
    return Interaction(user_id=f"ml-{uid}", query=rating_query(*movies[movie]), ground_truth=f"{rating:g}", timestamp=time,
                       metadata={"domain": "movies", "genres": movies[movie][1]}, source="ingest", scale=dict(SCALE))


def load_movielens(
    root: str | Path, *, n_users: int | None = 20, user_ids: list[str] | None = None, seed: int = 0,
    test: int = 3, history_max: int = 60, min_history: int = 10, min_span_days: float = 0.0,
) -> list[EvalUser]:
    """``n_users`` users drawn with ``seed`` (or ``user_ids``) among those with ``min_history``
    ratings before their last ``test`` and, with ``min_span_days``, whose ratings the evaluation
    uses (the history kept and the test) span more than that many days; each as history and test
    set (module docstring)."""
    movies, by_user, ratings = read_movielens(root)
    eligible = sorted((u for u, user_rows in by_user.items() if len(user_rows) > test
                       and bisect.bisect_left(user_rows, (user_rows[-test][0],)) >= min_history
                       and _span_days(user_rows, test, history_max) > min_span_days), key=int)
    if user_ids:
        unknown = [u for u in user_ids if u not in by_user]
        if unknown:
            raise DatasetError(f"MovieLens has no user(s) {unknown}")
        chosen = list(user_ids)
    else:
        chosen = sorted(random.Random(seed).sample(eligible, min(n_users or len(eligible), len(eligible))), key=int)
    return [_user(u, by_user[u], movies, ratings, test, history_max) for u in chosen]


def _span_days(rows: list[tuple[float, int, float]], test: int, history_max: int) -> float:
    """Days from the oldest rating of the history kept to the newest test rating (``_user``'s split)."""
    cut = rows[-test][0]
    past = [row for row in rows if row[0] < cut][-history_max:]
    future = [row for row in rows if row[0] >= cut][:test]
    return (future[-1][0] - past[0][0]) / DAY_S if past and future else 0.0


def _user(uid: str, rows, movies, ratings: _Ratings, test: int, history_max: int) -> EvalUser:
    # MovieLens users often rate several movies in the same second: the cut is a time, so the
    # history is strictly older than every test item (ratings at the cut beyond ``test`` are unused).
    cut = rows[-test][0]
    past = [row for row in rows if row[0] < cut]
    future = [row for row in rows if row[0] >= cut][:test]
    if not past:
        raise DatasetError(f"MovieLens user {uid} has no ratings before their last {test}")
    return user_from_split(uid, past, future, movies, ratings, history_max)


def user_from_split(uid: str, past: list[tuple[float, int, float]], future: list[tuple[float, int, float]],
                    movies: Movies, ratings: _Ratings, history_max: int) -> EvalUser:
    """The user whose memory holds the latest ``history_max`` of ``past`` and whose test set is
    ``future`` (every one later than ``past``), with baselines fitted before the first of ``future``."""
    cut = future[0][0]
    history = [rating_interaction(uid, t, m, r, movies) for t, m, r in past[-history_max:]]
    liked = Counter(g for _, m, r in past if r >= 4 for g in movies[m][1].split("|"))
    predicted = baselines(ratings, uid, past, [m for _, m, _ in future], cut)
    items = [
        EvalItem(id=f"ml-{uid}-{m}", query=rating_query(*movies[m]), ground_truth=f"{r:g}", timestamp=t,
                 scale=dict(SCALE), attributes={"movie_id": m, "baselines": base})
        for (t, m, r), base in zip(future, predicted)
    ]
    listed = dict.fromkeys([m for _, m, _ in past[-history_max:]] + [m for _, m, _ in future])
    catalogue = [catalogue_entry(m, *movies[m], ratings.movie_before(m, cut, exclude=uid)) for m in listed]
    return EvalUser(user_id=f"ml-{uid}", history=history, test=items, metric="rating",
                    attribute=liked.most_common(1)[0][0] if liked else "(none)", knowledge=catalogue)
