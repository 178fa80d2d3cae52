"""Cold start: a persona section for a user with few labelled interactions, borrowed from the
users whose first interactions most resemble theirs.

Similar users: each user's first ``below`` episodes as one vector (the mean of their stored
embeddings, ``episodes.early_means``); the newcomer's is compared by cosine with every user's who
has at least ``below`` labelled interactions of their own, and the ``k`` closest (at least
``MIN_SIMILARITY``) are the neighbours. With ``CENTRE_FROM`` users or more, every vector first has
the mean of all users' vectors taken away: what all users' first requests share (the wording of
a rating request, say) would otherwise make everyone about equally alike (MovieLens users' raw
vectors are), so the cosine then measures what a user's first requests share with the
newcomer's beyond what everyone's do. With fewer users that mean is mostly the users themselves
(with two, their centred vectors are opposite), so their vectors are compared as they are.

What is borrowed is aggregated, never copied: item names the neighbours liked or avoided (from
their labelled choices and ratings, and the phrases of their profiles, ``profile_check``; reduced
to letters and digits, at most ``MAX_NAME_WORDS`` words) that at least ``shared(n)`` of them name
the same way, the mean of their mean ratings on one scale, and the categories several of them
rate above or below their own mean. No neighbour's query, answer, feedback or id reaches the
section, and with fewer than ``MIN_NEIGHBOURS`` neighbours nothing is borrowed (one user's tastes
are not an aggregate). The newcomer's searches stay filtered to their own episodes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from statistics import fmean

import numpy as np

from ..ids import validate_user_id
from ..prompts import quote
from .episodic import Interaction
from .profile_check import said, tastes

TITLE = "Borrowed from similar users (replaced by this user's own evidence as it arrives)"
DEFAULT_NEIGHBOURS = 5
MIN_NEIGHBOURS = 2
MIN_SIMILARITY = 0.1  # a floor against borrowing from users who share nothing; not tuned
COLD_REFRESH_EVERY = 3  # turns between a cold user's profile refreshes, so a newcomer who chats borrows early
CENTRE_FROM = 20  # users with early vectors from which they are centred (see above); not tuned
MAX_NAME_CHARS = 60  # longer "names" are sentences, not items
MAX_NAME_WORDS = 6
MAX_NAMES = 8
MIN_PER_CATEGORY = 3
MIN_DEVIATION = 0.2
_COUNT = re.compile(r"^Aggregated from (\d+) users\b", re.MULTILINE)


@dataclass(frozen=True)
class Neighbour:
    user_id: str
    similarity: float


def _labelled(memory, user_id: str) -> int:
    return len(memory.episodes.list(user_id, labelled=True))


def is_cold(memory, user_id: str, below: int) -> bool:
    """Whether ``user_id`` has fewer than ``below`` labelled interactions (never when ``below`` is 0)."""
    if below < 0:
        raise ValueError(f"cold_start_below must be 0 (off) or more (got {below})")
    return below > 0 and _labelled(memory, user_id) < below


def nearest(memory, user_id: str, below: int, k: int = DEFAULT_NEIGHBOURS,
            among: Collection[str] | None = None) -> list[Neighbour]:
    """The ``k`` users most like ``user_id`` by their first ``below`` episodes, closest first
    (ties by id), among those with ``below`` or more labelled interactions (and, given ``among``,
    only those users: e.g. an evaluation's users whose interactions all precede the test); none
    when the user has no episodes yet."""
    validate_user_id(user_id)
    if below <= 0 or k <= 0:
        raise ValueError(f"nearest needs below >= 1 and k >= 1 (got {below}, {k})")
    means = memory.episodes.early_means(below)
    own = next((m.vector for m in means if m.user_id == user_id), None)
    if own is None:
        return []
    centre = np.mean([m.vector for m in means], axis=0) if len(means) >= CENTRE_FROM else 0.0
    own = own - centre
    found = [Neighbour(m.user_id, _cosine(own, m.vector - centre)) for m in means
             if m.user_id != user_id and m.labelled >= below and (among is None or m.user_id in among)]
    found.sort(key=lambda n: (-n.similarity, n.user_id))
    return [n for n in found[:k] if n.similarity >= MIN_SIMILARITY]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b)) / norms if norms else 0.0


def shared(count: int) -> int:
    """How many of ``count`` neighbours must name a thing for it to be borrowed: at least two,
    and at least half of them."""
    return max(MIN_NEIGHBOURS, (count + 1) // 2)


def _item(name: str) -> bool:
    return 0 < len(name) <= MAX_NAME_CHARS and len(name.split()) <= MAX_NAME_WORDS


def _tastes_of(memory, user_id: str, history: list[Interaction]) -> tuple[set[str], set[str]]:
    liked, avoided = tastes(history)
    profile = memory.profiles.latest(user_id)
    if profile is not None:
        told_liked, told_avoided = said(profile.text)
        liked |= told_liked
        avoided |= told_avoided
    return {n for n in liked if _item(n)}, {n for n in avoided - liked if _item(n)}


def _names_line(label: str, votes: Counter, against: Counter, need: int, of: int) -> list[str]:
    names = sorted((n for n, v in votes.items() if v >= need and v > against[n]), key=lambda n: (-votes[n], n))
    if not names:
        return []
    return [f"- {label}: " + ", ".join(f"{n} ({votes[n]} of {of})" for n in names[:MAX_NAMES]) + "."]


Rated = list[tuple[Interaction, float, tuple[float, float]]]  # (item, rating, (scale low, high))


def _ratings(history: list[Interaction]) -> Rated:
    out = []
    for item in history:
        if item.scale and item.ground_truth is not None:
            try:
                out.append((item, float(item.ground_truth), (float(item.scale["low"]), float(item.scale["high"]))))
            except (KeyError, ValueError):
                continue
    return out


def _category_votes(rated: Rated) -> dict[str, int]:
    """+1 for each category this user rates above their own mean, -1 below (by ``MIN_DEVIATION``,
    with ``MIN_PER_CATEGORY`` ratings at least)."""
    mean = fmean(v for _, v, _ in rated)
    by: dict[str, list[float]] = {}
    for item, value, _ in rated:
        genres = item.metadata.get("genres")
        names = genres.split("|") if isinstance(genres, str) else [item.metadata.get("domain") or ""]
        for name in (quote(n) for n in names):  # metadata as written: one line, no angle brackets
            if name and name != "(no genres listed)":
                by.setdefault(name, []).append(value)
    return {c: (1 if fmean(v) > mean else -1) for c, v in by.items()
            if len(v) >= MIN_PER_CATEGORY and abs(fmean(v) - mean) >= MIN_DEVIATION}


def _rating_lines(rated_by: list[Rated], need: int, of: int) -> list[str]:
    rated_by = [r for r in rated_by if len(r) >= MIN_PER_CATEGORY]
    scales = {s for rated in rated_by for _, _, s in rated}
    lines = []
    if len(rated_by) >= need and len(scales) == 1:
        (low, high), = scales
        mean = fmean(fmean(v for _, v, _ in rated) for rated in rated_by)
        lines.append(f"- Their ratings average {mean:.2f} on the {low:g}–{high:g} scale ({len(rated_by)} of {of}).")
    votes = Counter()
    for rated in rated_by:
        for category, sign in _category_votes(rated).items():
            votes[(category, sign)] += 1
    for sign, label in ((1, "above"), (-1, "below")):
        names = sorted((c for (c, s), v in votes.items() if s == sign and v >= need and _item(c.lower())),
                       key=lambda c: (-votes[(c, sign)], c))
        if names:
            lines.append(f"- They rate {label} their own mean: "
                         + ", ".join(f"{c} ({votes[(c, sign)]} of {of})" for c in names[:MAX_NAMES]) + ".")
    return lines


def borrowed_section(memory, neighbours: list[Neighbour]) -> str:
    """The borrowed section's body from ``neighbours``: what enough of them share, or "" when
    there are fewer than ``MIN_NEIGHBOURS`` or they share nothing."""
    if len(neighbours) < MIN_NEIGHBOURS:
        return ""
    of, need = len(neighbours), shared(len(neighbours))
    liked, avoided, rated_by = Counter(), Counter(), []
    for neighbour in neighbours:
        history = memory.episodes.list(neighbour.user_id, labelled=True)
        likes, avoids = _tastes_of(memory, neighbour.user_id, history)
        liked.update(likes)
        avoided.update(avoids)
        rated_by.append(_ratings(history))
    lines = (_names_line("Liked by several of them", liked, avoided, need, of)
             + _names_line("Avoided by several of them", avoided, liked, need, of)
             + _rating_lines(rated_by, need, of))
    if not lines:
        return ""
    return (f"Aggregated from {of} users whose first interactions resemble this user's; a line holds only "
            f"what at least {need} of them share. A starting guess: what this user says and does outranks it.\n"
            + "\n".join(lines))


def neighbour_count(body: str | None) -> int | None:
    """How many users a borrowed section's body was aggregated from (None when it says not)."""
    found = _COUNT.search(body or "")
    return int(found.group(1)) if found else None
