"""Reading an answer from a text reply: the one set of rules that closed-form answers without
log-probabilities (``closed_form.parse_text``) and the optimizer's text losses
(``persona.losses``) both use. Option letters, a number on a rating scale, words compared without
case or punctuation."""

from __future__ import annotations

import re

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_WORDS = re.compile(r"[^a-z0-9]+")


def norm(text: str) -> str:
    """``text`` in lower case, its runs of anything but letters and digits one space."""
    return " ".join(_WORDS.sub(" ", text.lower()).split())


def first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


def first_on_scale(text: str, low: float, high: float) -> float | None:
    """The first number in ``text`` that lies from ``low`` to ``high`` (a year in a title does
    not), or None."""
    for found in NUMBER.finditer(text):
        value = float(found.group())
        if low <= value <= high:
            return value
    return None


def first_letter(text: str, count: int) -> int | None:
    """The index of the first standalone option letter among the first ``count`` ("B", "(B)",
    "B.", "Option B"), or None."""
    found = re.search(rf"(?<![A-Za-z])([A-{LETTERS[count - 1]}])(?![A-Za-z])", text) if count > 0 else None
    return LETTERS.index(found.group(1)) if found else None
