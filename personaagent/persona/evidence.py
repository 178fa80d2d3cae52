"""Evidence computed by code from a user's labelled history, written into the persona with exact
figures, so the model never has to recompute them (a small model cannot).

Ratings: how the user uses the scale (mean, median, spread, most used values), how far their
ratings per genre or domain sit from their own mean, recent against older ratings, and, when
given, the signed error of the agent's own recent predictions. Choices: what they picked over
what, the words their picks share that the options they passed over never use, and the labels
they pick most often.

With a recency half-life (``Context.recency_half_life_days``; 0: off), the means, the shares of the
most used values and the counts of the labels picked most often are weighted by ``recency.weights``
(the newest interaction weighs 1), and the lines say so.
"""

from __future__ import annotations

import re
from collections import Counter
from statistics import fmean, median, pstdev

from .. import recency
from ..memory.episodic import Interaction
from ..prompts import quote

TITLE = "Evidence from this user's history"
MIN_PER_CATEGORY = 3
MIN_DEVIATION = 0.2
RECENT = 10
MAX_CATEGORIES = 4
MAX_PICKS_SHOWN = 4
MAX_WORDS = 8
STOPWORDS = frozenset(
    "about above after again also always among another because been before being below between both "
    "but can could does doing down during each even every from further have having here into itself "
    "just more most much must near never once only other over same should some such than that their "
    "them then there these they this those through under until very want were what when where which "
    "while will with would your yours the and for are you our out has had was not its any all may new "
    "one two get got like".split())
_WORD = re.compile(r"[a-z][a-z'-]{3,}")


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _categories(item: Interaction) -> list[str]:
    genres = item.metadata.get("genres")
    if isinstance(genres, str) and genres.strip():
        return [g.strip() for g in genres.split("|") if g.strip() and g.strip() != "(no genres listed)"]
    domain = item.metadata.get("domain") or item.metadata.get("task")
    return [str(domain)] if domain else []


def _weighted(half_life_days: float) -> str:
    return f"recency-weighted (half-life {half_life_days:g} days) " if half_life_days else ""


def _totals(keys: list, weights: list[float]) -> list[tuple]:
    """(key, summed weight) per distinct key, largest first, ties in order of first appearance
    (with every weight 1: ``Counter.most_common``)."""
    totals: dict = {}
    for key, w in zip(keys, weights, strict=True):
        totals[key] = totals.get(key, 0.0) + w
    return sorted(totals.items(), key=lambda t: -t[1])


def rating_lines(items: list[Interaction], signed_error: float | None = None,
                 half_life_days: float = 0.0) -> list[str]:
    rated = [(i, v) for i in items if i.scale and (v := _number(i.ground_truth)) is not None]
    if len(rated) < 3:
        return []
    values = [v for _, v in rated]
    weights = recency.weights([i.timestamp for i, _ in rated], half_life_days)
    mean = recency.weighted_mean(values, weights)
    top = _totals(values, weights)[:2]
    lines = [f"- Their {len(values)} past ratings: {_weighted(half_life_days)}mean {mean:.2f}, median "
             f"{median(values):g}, spread (SD) {pstdev(values):.2f}, lowest {min(values):g}, highest {max(values):g}; "
             f"most used " + ", ".join(f"{v:g} ({n / sum(weights):.0%})" for v, n in top) + "."]
    by_category: dict[str, list[tuple[float, float]]] = {}
    for (item, value), w in zip(rated, weights):
        for category in _categories(item):
            by_category.setdefault(category, []).append((value, w))
    deviations = sorted(((recency.weighted_mean(*zip(*v)) - mean, c, len(v)) for c, v in by_category.items()
                         if len(v) >= MIN_PER_CATEGORY), key=lambda t: t[0])
    higher = [d for d in reversed(deviations) if d[0] >= MIN_DEVIATION][:MAX_CATEGORIES]
    lower = [d for d in deviations if d[0] <= -MIN_DEVIATION][:MAX_CATEGORIES]
    if higher:
        lines.append("- Rated above their mean: " + ", ".join(f"{c} {d:+.2f} ({n} ratings)" for d, c, n in higher) + ".")
    if lower:
        lines.append("- Rated below their mean: " + ", ".join(f"{c} {d:+.2f} ({n} ratings)" for d, c, n in lower) + ".")
    if len(values) >= 2 * RECENT:
        recent, older = fmean(values[-RECENT:]), fmean(values[:-RECENT])
        if abs(recent - older) >= MIN_DEVIATION:
            lines.append(f"- Their latest {RECENT} ratings average {recent:.2f}, against {older:.2f} before.")
    if signed_error is not None and abs(signed_error) >= MIN_DEVIATION:
        direction = "too high" if signed_error > 0 else "too low"
        lines.append(f"- The assistant's recent predictions for this user were {abs(signed_error):.2f} points "
                     f"{direction} on average.")
    return lines


def _words(text: str) -> list[str]:
    """The content words of ``text``, each once, in order (so the evidence reads the same every run)."""
    return list(dict.fromkeys(w for w in _WORD.findall(text.lower()) if w not in STOPWORDS))


def choice_lines(items: list[Interaction], half_life_days: float = 0.0) -> list[str]:
    picks = [i for i in items if i.options and i.ground_truth in i.options]
    if not picks:
        return []
    lines = []
    for item in picks[-MAX_PICKS_SHOWN:]:
        others = "; ".join(f'"{quote(o)[:80]}"' for o in item.options if o != item.ground_truth)
        said = f' (they said: "{quote(item.feedback)[:160]}")' if item.feedback else ""
        lines.append(f'- Chose "{quote(item.ground_truth)[:120]}" over {others}{said}.')
    chosen = Counter(w for i in picks for w in _words(i.ground_truth))
    passed = set().union(*(_words(o) for i in picks for o in i.options if o != i.ground_truth))
    needed = 2 if len(picks) >= 3 else 1
    shared = [w for w, n in chosen.most_common() if n >= needed and w not in passed][:MAX_WORDS]
    if shared:
        lines.append("- Words in what they chose that the options they passed over never use: " + ", ".join(shared) + ".")
    counts = Counter(i.ground_truth for i in picks)
    weights = recency.weights([i.timestamp for i in picks], half_life_days)
    totals = _totals([i.ground_truth for i in picks], weights)
    repeated = [(label, n) for label, n in totals if counts[label] >= 2][:5]
    if repeated:
        shown = ", ".join(f'"{quote(lbl)[:60]}" {n:.2f}' if half_life_days else f'"{quote(lbl)[:60]}" {n:.0f}'
                          for lbl, n in repeated)
        lines.append(f"- Chosen most often {_weighted(half_life_days)}(of {len(picks)}): {shown}.")
    return lines


def evidence_section(items: list[Interaction], signed_error: float | None = None,
                     half_life_days: float = 0.0) -> str:
    """The evidence section's body for ``items`` (the user's labelled interactions, oldest first),
    or "" when there is too little to say; figures recency-weighted with a half-life (days; 0: off)."""
    labelled = [i for i in items if i.labelled]
    return "\n".join(rating_lines(labelled, signed_error, half_life_days) + choice_lines(labelled, half_life_days))
