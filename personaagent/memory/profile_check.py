"""A profile line checked against the labelled history before it is stored: an item the user chose
(or rated high) cannot be listed among what they avoid, and an item they passed over (or rated
low) and never chose cannot be listed among what they like. Such a phrase is dropped from the
line, and a clause left empty goes with it.

A line reads as clauses, each opened by a word of liking ("likes", "enjoys", "prefers", …) or of
avoiding ("avoids", "dislikes", …), each clause a list of phrases separated by commas,
semicolons, "and" or "or". A phrase names an item when their words match, or one holds the
other's words whole (an item of at least four characters).

With a recency half-life (``Context.recency_half_life_days``; 0: off), an item the user both chose
and passed over counts by its recency-weighted evidence (``recency.weights``) rather than as liked
once chosen: chosen long ago and passed over lately, it is avoided, so a profile phrase saying
they like it is dropped instead of kept beside their recent behaviour. ``last_supported`` says
when the history last agreed with each phrase that stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone

from .. import recency
from ..answers.text import norm
from .episodic import Interaction

_LIKE = r"likes?|loves?|enjoys?|prefers?|favou?rs?|picks?|chooses?|goes for"
_AVOID = r"avoids?|dislikes?|hates?|does ?n[o']t like|is not into|isn't into|steers? clear of|skips?|rejects?"
_CUE = re.compile(rf"\b(?:(?P<like>{_LIKE})|(?P<avoid>{_AVOID}))\b\s*:?\s*", re.IGNORECASE)
_SEPARATOR = re.compile(r"\s*(?:,|;|\band\b|\bor\b)\s*", re.IGNORECASE)
_QUOTED = re.compile(r'"([^"]+)"')
_ARTICLE = re.compile(r"^(?:a|an|the|some)\s+")
LIKED_FROM = 0.75  # a rating at least this far up its scale counts as liked
AVOIDED_TO = 0.35  # at most this far up, as avoided


def _name(text: str) -> str:
    return _ARTICLE.sub("", norm(text))


def _verdicts(item: Interaction) -> Iterator[tuple[str, bool]]:
    """(item name, liked?) for what one labelled interaction says: a choice's pick is liked and the
    options passed over avoided; a rated item (named in quotes in the request) by where its rating
    sits on the scale."""
    if item.ground_truth is None:
        return
    if item.options:
        picked = _name(item.ground_truth)
        yield picked, True
        yield from ((name, False) for o in item.options if (name := _name(o)) != picked)
    elif item.scale and (title := _QUOTED.search(item.query)):
        low, high = float(item.scale["low"]), float(item.scale["high"])
        share = (float(item.ground_truth) - low) / (high - low)
        if share >= LIKED_FROM or share <= AVOIDED_TO:
            yield _name(title.group(1)), share >= LIKED_FROM


def tastes(items: Iterable[Interaction], half_life_days: float = 0.0) -> tuple[set[str], set[str]]:
    """(liked, avoided) item names from labelled interactions (``_verdicts``). Without a recency
    half-life an item liked anywhere is liked; with one, an item is avoided when its
    recency-weighted avoidance outweighs its recency-weighted liking."""
    items = list(items)
    weights = recency.weights([i.timestamp for i in items], half_life_days)
    liking: dict[str, float] = {}
    avoiding: dict[str, float] = {}
    for item, w in zip(items, weights):
        for name, liked in _verdicts(item):
            (liking if liked else avoiding)[name] = (liking if liked else avoiding).get(name, 0.0) + w
    if not recency.validated(half_life_days):
        return set(liking), set(avoiding) - set(liking)
    avoided = {n for n, w in avoiding.items() if w > liking.get(n, 0.0)}
    return set(liking) - avoided, avoided


def _names(phrase: str, items: set[str]) -> bool:
    said = _name(phrase)
    return bool(said) and any(said == item or (len(item) >= 4 and f" {item} " in f" {said} ")
                              or (len(said) >= 4 and f" {said} " in f" {item} ") for item in items)


def _clauses(line: str) -> Iterator[tuple[re.Match, str, str, list[str]]]:
    """Each clause of ``line``: its cue, the clause, its body after the cue, and the body's phrases."""
    cues = list(_CUE.finditer(line))
    for n, cue in enumerate(cues):
        end = cues[n + 1].start() if n + 1 < len(cues) else len(line)
        body = line[cue.end(): end].rstrip()
        yield cue, line[cue.start(): end], body, [p for p in _SEPARATOR.split(body.rstrip(".;,")) if p.strip()]


def said(profile: str) -> tuple[set[str], set[str]]:
    """(liked, avoided) as a profile's lines name them, each phrase normalised as an item name is;
    a phrase named both ways counts as liked only."""
    liked, avoided = set(), set()
    for line in profile.splitlines():
        for cue, _, _, phrases in _clauses(line):
            (avoided if cue.group("avoid") else liked).update(n for p in phrases if (n := _name(p)))
    return liked, avoided - liked


def checked(line: str, liked: set[str], avoided: set[str]) -> tuple[str, list[str]]:
    """``line`` without the phrases the history contradicts, and those phrases."""
    cues = list(_CUE.finditer(line))
    if not cues:
        return line, []
    kept, dropped = [line[: cues[0].start()]], []
    for cue, clause, body, phrases in _clauses(line):
        wrong = [p for p in phrases if _names(p, liked if cue.group("avoid") else avoided)]
        if not wrong:
            kept.append(clause)
            continue
        dropped += wrong
        if good := [p for p in phrases if p not in wrong]:
            kept.append(f"{cue.group(0)}{', '.join(good)}{body[-1] if body[-1:] in '.;,' else ''} ")
    if not dropped:
        return line, []
    text = " ".join("".join(kept).split()).rstrip(",;")
    return (text if _CUE.search(text) else ""), dropped


def last_supported(line: str, items: Iterable[Interaction]) -> dict[str, str]:
    """The day (UTC, ISO) each phrase of ``line`` was last supported by the history: the latest
    labelled interaction whose verdict on an item the phrase names agrees with the phrase's cue
    (chosen or rated high for a word of liking, passed over or rated low for one of avoiding).
    Phrases nothing supports are left out."""
    latest: dict[tuple[str, bool], float] = {}
    for item in items:
        for name, liked in _verdicts(item):
            latest[(name, liked)] = max(latest.get((name, liked), item.timestamp), item.timestamp)
    found = {}
    for cue, _, _, phrases in _clauses(line):
        liking = not cue.group("avoid")
        times = [(p.strip(), t) for p in phrases for (name, liked), t in latest.items()
                 if liked == liking and _names(p, {name})]
        for phrase, t in times:
            day = datetime.fromtimestamp(t, tz=timezone.utc).date().isoformat()
            found[phrase] = max(found.get(phrase, day), day)
    return found
