"""What the user has told the agent: lasting preferences they stated, kept in the persona in their
own words, with the day and the episode each came from::

    ## What this user has told you
    Their own words, quoted, oldest first. …
    - 2026-03-02, episode 3f2a91c04b1e: "I strictly avoid gluten."

Finding them costs little: a user turn is cut into sentences, and only a sentence that speaks of
the user in the first person with a word of liking, avoiding, habit or need (or that reads as a
standing order: "no …", "never …", "always …") goes to the model, which names it a preference or
a request; the answer is read from the first token's probabilities (one call of one token per
sentence).

A later statement on the same subject replaces the earlier one in the persona (the earlier stays
in the version history). Same subject: the two sentences' embeddings are at least
``SAME_SUBJECT`` apart in cosine (the rule is measured by ``personaagent eval statements``).

The section is data the user wrote: each statement is one quoted line (``prompts.quote``), so it
cannot open a heading, a lookup rule or a block of its own, and the optimizer never edits it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.types import RetryPolicy

from .. import prompts
from ..answers.closed_form import two_way_probability
from .sections import remove_section, replace_section, section

TITLE = "What this user has told you"
# p(preference) a sentence needs; chosen on 60 PrefEval records apart from those the evaluation reports
# (precision 1.0, recall 0.89 there; results/stated-detection gives both at other thresholds too)
THRESHOLD = 0.3
SAME_SUBJECT = 0.6  # cosine at or above which a new statement replaces an earlier one
MAX_SENTENCES = 6  # sentences of one turn that go to the model at most (the first that pass the filter)
MAX_CHARS = 400  # a statement's length in the persona at most

Embed = Callable[[list[str]], Sequence[Sequence[float]]]

_SENTENCE = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|im|i've|i'd|i'll|me|my|mine|myself|we|we're|we've|our|ours|us)\b")
_CUE = re.compile(
    r"\b(?:prefer\w*|love\w*|like|likes|enjoy\w*|adore\w*|fan of|into|keen on|fond of|hate\w*|dislike\w*|"
    r"detest\w*|loathe\w*|avoid\w*|can't stand|cannot stand|can't|cannot|won't|don't|do not|never|always|"
    r"usually|only|tend to|rather|favou?rite\w*|allerg\w*|intoleran\w*|sensitive to|vegan|vegetarian|"
    r"pescatarian|kosher|halal|diet\w*|follow\w*|stick to|strict\w*|refuse\w*|value|care about|"
    r"important to me|matters to me|passionate|not a fan|no longer|anymore|gone off|trying to|committed to|"
    r"need|require\w*|as someone who|as a)\b")
_STANDING = re.compile(r"^(?:no|never|always|only|please (?:always|never|don't|do not|avoid|only))\b")
_LINE = re.compile(r'^- (\d{4}-\d{2}-\d{2}), episode ([\w-]+): "(.*)"$')


@dataclass(frozen=True)
class Statement:
    """One stated preference: the user's words, the day they said it, the episode it came from."""

    text: str
    day: str
    episode: str

    def line(self) -> str:
        return f'- {self.day}, episode {self.episode}: "{self.text}"'


def statement(text: str, timestamp: float, episode: str) -> Statement:
    """A statement as the persona keeps it: one quoted line, bounded."""
    day = datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d")
    return Statement(prompts.quote(text)[:MAX_CHARS].replace('"', "'"), day, episode[:12] or "none")


# --- the section ---------------------------------------------------------------------------


def statements(persona: str) -> list[Statement]:
    """The statements a persona keeps, oldest first (lines that are not statements are skipped)."""
    found = [_LINE.match(line.strip()) for line in (section(persona, TITLE) or "").splitlines()]
    return [Statement(m.group(3), m.group(1), m.group(2)) for m in found if m]


def with_statements(persona: str, kept: Iterable[Statement]) -> str:
    """``persona`` whose section holds ``kept`` (the section goes when nothing is kept)."""
    kept = list(kept)
    if not kept:
        return remove_section(persona, TITLE)
    return replace_section(persona, TITLE, "\n".join([prompts.STATED_HEADER, *(s.line() for s in kept)]))


def numbered_statements(persona: str) -> str:
    """The statements as ``persona show`` lists them, numbered for ``persona forget``."""
    kept = statements(persona)
    if not kept:
        return "no stated preferences kept"
    return "stated preferences:\n" + "\n".join(f"  {n}. {s.day}: \"{s.text}\"" for n, s in enumerate(kept, 1))


def _unit(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    matrix = np.asarray(vectors, dtype=float)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def merged(kept: list[Statement], new: list[Statement], embed: Embed,
           same_subject: float = SAME_SUBJECT) -> tuple[list[Statement], list[Statement]]:
    """``kept`` with ``new`` added in order, each replacing the earlier statements on the same
    subject (and an identical one); returns the statements now kept and those replaced."""
    current, replaced = list(kept), []
    for item in new:
        if current:
            vectors = _unit(embed([item.text, *(s.text for s in current)]))
            similar = vectors[1:] @ vectors[0]
            gone = [s for s, sim in zip(current, similar) if sim >= same_subject or s.text == item.text]
            replaced += gone
            current = [s for s in current if s not in gone]
        current.append(item)
    return current, replaced


def narrowed(persona: str, request: str, embed: Embed, shown: int) -> str:
    """``persona`` with only the ``shown`` statements closest to ``request`` in its section (in
    their order), when it keeps more: the prompt stays bounded however much the user has said."""
    kept = statements(persona)
    if shown <= 0 or len(kept) <= shown:
        return persona
    vectors = _unit(embed([request, *(s.text for s in kept)]))
    closest = set(np.argsort(-(vectors[1:] @ vectors[0]), kind="stable")[:shown].tolist())
    return with_statements(persona, (s for i, s in enumerate(kept) if i in closest))


# --- finding them --------------------------------------------------------------------------


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()]


def may_state(sentence: str) -> bool:
    """The cheap filter: could this sentence state a lasting preference of its writer?"""
    lowered = sentence.lower().replace("’", "'")
    return bool(_STANDING.match(lowered) or (_FIRST_PERSON.search(lowered) and _CUE.search(lowered)))


def stated_probability(model: BaseChatModel, sentence: str, retry: RetryPolicy | None = None) -> float:
    """The model's p(preference) against p(request) for ``sentence``."""
    return two_way_probability(model, [SystemMessage(prompts.STATED_INSTRUCTION),
                                       HumanMessage(prompts.STATED_INPUT.format(sentence=prompts.quote(sentence)))],
                               "preference", "request", retry)


def detect(model: BaseChatModel, text: str, retry: RetryPolicy | None = None,
           cache: MutableMapping[str, float] | None = None) -> list[str]:
    """The sentences of a user's ``text`` that state a lasting preference: those the filter lets
    through and the model names a preference. ``cache`` (sentence → p(preference)) saves calls on
    text seen before, e.g. an evaluation that ingests the same turns for many users."""
    cache = {} if cache is None else cache
    found = []
    for sentence in [s for s in sentences(text) if may_state(s)][:MAX_SENTENCES]:
        if sentence not in cache:
            cache[sentence] = stated_probability(model, sentence, retry)
        if cache[sentence] >= THRESHOLD:
            found.append(sentence)
    return found


def stated_in(model: BaseChatModel, turns: Iterable, retry: RetryPolicy | None = None,
              cache: MutableMapping[str, float] | None = None) -> list[Statement]:
    """The statements in ``turns`` (interactions: the user's ``query`` and ``feedback`` are
    their words), oldest first."""
    found = []
    for turn in sorted(turns, key=lambda t: t.timestamp):
        for words in (turn.query, turn.feedback or ""):
            found += [statement(s, turn.timestamp, turn.id) for s in detect(model, words, retry, cache)]
    return found
