"""Evidence computed by code from a user's labelled history, written into the persona with exact
figures, so the model never has to recompute them (a small model cannot).

Ratings: how the user uses the scale (mean, median, spread, most used values), how far their
ratings per genre or domain sit from their own mean, recent against older ratings, and, when
given, the signed error of the agent's own recent predictions. Choices: what they picked over
what, the words their picks share that the options they passed over never use, and the labels
they pick most often.
"""

from __future__ import annotations

import re
from collections import Counter
from statistics import fmean, median, pstdev

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


def rating_lines(items: list[Interaction], signed_error: float | None = None) -> list[str]:
    rated = [(i, v) for i in items if i.scale and (v := _number(i.ground_truth)) is not None]
    if len(rated) < 3:
        return []
    values = [v for _, v in rated]
    mean = fmean(values)
    top = Counter(values).most_common(2)
    lines = [f"- Their {len(values)} past ratings: mean {mean:.2f}, median {median(values):g}, spread (SD) "
             f"{pstdev(values):.2f}, lowest {min(values):g}, highest {max(values):g}; most used "
             + ", ".join(f"{v:g} ({n / len(values):.0%})" for v, n in top) + "."]
    by_category: dict[str, list[float]] = {}
    for item, value in rated:
        for category in _categories(item):
            by_category.setdefault(category, []).append(value)
    deviations = sorted(((fmean(v) - mean, c, len(v)) for c, v in by_category.items() if len(v) >= MIN_PER_CATEGORY),
                        key=lambda t: t[0])
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


def choice_lines(items: list[Interaction]) -> list[str]:
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
    repeated = [(label, n) for label, n in counts.most_common(5) if n >= 2]
    if repeated:
        lines.append(f"- Chosen most often (of {len(picks)}): " + ", ".join(f'"{quote(lbl)[:60]}" {n}' for lbl, n in repeated) + ".")
    return lines


def evidence_section(items: list[Interaction], signed_error: float | None = None) -> str:
    """The evidence section's body for ``items`` (the user's labelled interactions, oldest first),
    or "" when there is too little to say."""
    labelled = [i for i in items if i.labelled]
    return "\n".join(rating_lines(labelled, signed_error) + choice_lines(labelled))
