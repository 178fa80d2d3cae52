"""Closed-form answers: requests whose answer set is known in advance (options to choose from, or a
rating scale) are answered by reading the model's token distribution instead of parsing text.

One call with ``max_tokens=1`` and ``logprobs``: options are lettered (A, B, …) and the model is
asked for the letter; a rating scale is asked for as a whole number of points, one token each. The
answer carries its distribution (option → probability, rating → probability), and for a rating
the median (the point prediction for absolute error) and the mean. An endpoint that returns no
log-probabilities gets the same request answered as text (a short reply, parsed); the answer says
which path it took, and the model is remembered as one without log-probabilities.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableLambda
from langgraph.types import RetryPolicy

from ..errors import InvalidInput, ModelReplyError
from ..models.factory import limited
from ..models.resilience import retried, usable_reply
from .position_bias import rotations
from .text import LETTERS, first_letter, first_line, first_on_scale, norm

MAX_OPTIONS = len(LETTERS)
MAX_OPTION_CHARS = 500
TOP_LOGPROBS = 20  # the most OpenAI accepts
TEXT_REPLY_TOKENS = 24  # the fallback's reply: enough for a letter, a number or a short option
MAX_SCALE_VALUES = 201


@dataclass(frozen=True)
class RatingScale:
    """A rating scale from ``low`` to ``high`` in steps of ``step`` (e.g. 0.5–5 by 0.5)."""

    low: float = 1.0
    high: float = 5.0
    step: float = 1.0

    def __post_init__(self):
        values = (self.low, self.high, self.step)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise InvalidInput(f"a rating scale needs finite numbers low, high and step (got {values})")
        if self.step <= 0 or self.high <= self.low:
            raise InvalidInput(f"a rating scale needs low < high and step > 0 (got {self.low}, {self.high}, {self.step})")
        count = (self.high - self.low) / self.step
        if abs(count - round(count)) > 1e-6 or count + 1 > MAX_SCALE_VALUES:
            raise InvalidInput(f"a rating scale's step must divide high − low into at most {MAX_SCALE_VALUES - 1} "
                               f"steps (got {self.low}–{self.high} by {self.step})")

    @classmethod
    def of(cls, value: Any) -> "RatingScale":
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"low", "high", "step"}
            if unknown:
                raise InvalidInput(f"a rating scale has only low, high and step (got {sorted(unknown)})")
            return cls(**{k: value[k] for k in ("low", "high", "step") if k in value})
        if isinstance(value, Sequence) and not isinstance(value, str) and len(value) in (2, 3):
            return cls(*value)
        raise InvalidInput(f"a rating scale is {{low, high, step}} (got {value!r})")

    def to_dict(self) -> dict[str, float]:
        return {"low": self.low, "high": self.high, "step": self.step}

    def values(self) -> list[float]:
        n = round((self.high - self.low) / self.step)
        return [round(self.low + i * self.step, 10) for i in range(n + 1)]

    def snap(self, value: float) -> float:
        """The scale value nearest ``value`` (halves go up)."""
        n = math.floor((min(max(value, self.low), self.high) - self.low) / self.step + 0.5)
        return round(self.low + n * self.step, 10)

    @property
    def midpoint(self) -> float:
        return (self.low + self.high) / 2

    def points(self) -> list[int]:
        """What the model is asked for: the whole numbers on the scale (1–5 for 0.5–5). Each is
        one token, so one decoded token gives their whole distribution."""
        return list(range(math.ceil(self.low), math.floor(self.high) + 1))


def label(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class AnswerSpec:
    """What a closed-form request may be answered with: ``options`` or a rating ``scale``."""

    options: tuple[str, ...] = ()
    scale: RatingScale | None = None

    @classmethod
    def of(cls, options: Sequence[str] | None = None, scale: Any = None) -> "AnswerSpec | None":
        """The spec of a request's ``answer_options`` / ``rating_scale``; None for a free-text turn."""
        if options and scale is not None:
            raise InvalidInput("a request can state answer_options or a rating_scale, not both")
        if scale is not None:
            return cls(scale=RatingScale.of(scale))
        if not options:
            return None
        if isinstance(options, str) or not all(isinstance(o, str) for o in options):
            raise InvalidInput("answer_options must be a list of strings")
        cleaned = tuple(" ".join(o.split()) for o in options)
        if not 2 <= len(cleaned) <= MAX_OPTIONS:
            raise InvalidInput(f"answer_options needs 2 to {MAX_OPTIONS} options (got {len(cleaned)})")
        if any(not o for o in cleaned):
            raise InvalidInput("answer_options has an empty option")
        if any(len(o) > MAX_OPTION_CHARS for o in cleaned):
            raise InvalidInput(f"an answer option is longer than {MAX_OPTION_CHARS} characters")
        if len({o.lower() for o in cleaned}) != len(cleaned):
            raise InvalidInput("answer_options has the same option twice")
        return cls(options=cleaned)

    @property
    def kind(self) -> str:
        return "rating" if self.scale else "choice"

    def labels(self) -> list[str]:
        """The one-token answers the model may give: letters, or the scale's whole numbers."""
        if self.scale:
            return [str(p) for p in self.scale.points()]
        return list(LETTERS[: len(self.options)])

    def render(self, request: str) -> str:
        """The request as the model sees it: the options lettered, then how to answer."""
        if self.scale:
            low, high = self.scale.points()[0], self.scale.points()[-1]
            return f"{request}\n\nReply with a whole number from {low} to {high} only."
        lines = "\n".join(f"{letter}. {option}" for letter, option in zip(LETTERS, self.options))
        return f"{request}\n\nOptions:\n{lines}\n\nReply with the letter of one option only."

    def stored_query(self, request: str) -> str:
        """How the request is kept in memory: with its options, so a later search shows them."""
        if self.scale or request.rstrip().endswith(tuple(self.options)):
            return request
        return f"{request} (options: {'; '.join(self.options)})"

    def to_dict(self) -> dict[str, Any]:
        return {"options": list(self.options)} if self.options else {"scale": self.scale.to_dict()}

    def truth(self, wanted: str) -> str:
        """``wanted`` (what the user really wanted) in this answer set's terms: the option it names,
        or a number on the scale; a ``InvalidInput`` naming the problem otherwise."""
        if self.scale:
            try:
                value = float(wanted)
            except ValueError:
                raise InvalidInput(f"ground_truth {wanted!r} is not a number on the rating scale") from None
            if not (math.isfinite(value) and self.scale.low <= value <= self.scale.high):
                raise InvalidInput(f"ground_truth {wanted} is outside the scale {self.scale.low:g}–{self.scale.high:g}")
            return wanted
        index = self.index_of(wanted)
        if index is None:
            raise InvalidInput(f"ground_truth {wanted!r} is not one of the options")
        return self.options[index]

    def index_of(self, wanted: str) -> int | None:
        """The option ``wanted`` names: the option itself, its letter, or an option it names whole."""
        target = norm(wanted)
        for i, option in enumerate(self.options):
            if norm(option) == target:
                return i
        if len(wanted.strip()) == 1 and wanted.strip().upper() in LETTERS[: len(self.options)]:
            return LETTERS.index(wanted.strip().upper())
        named = [i for i, o in enumerate(self.options) if norm(o) and f" {norm(o)} " in f" {target} "]
        return named[0] if len(named) == 1 else None


@dataclass
class ClosedAnswer:
    """A closed-form answer. ``distribution``: option → probability (in option order) or rating
    label → probability; empty when a text reply could not be read. ``path``: ``logprobs`` or
    ``text``."""

    answer: str
    distribution: dict[str, float]
    path: str
    median: float | None = None
    mean: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def parsed(self) -> bool:
        return bool(self.distribution)

    def to_dict(self) -> dict[str, Any]:
        out = {"answer": self.answer, "distribution": self.distribution, "path": self.path}
        if self.median is not None:
            out |= {"median": self.median, "mean": self.mean}
        return out


def _token_label(token: str) -> str:
    return token.strip().rstrip(".):").strip()


def token_distribution(message: BaseMessage, labels: list[str]) -> dict[str, float] | None:
    """The first generated token's distribution over ``labels``, renormalised, or None when the
    reply carries no log-probabilities or puts (almost) no mass on any label. Spellings of one
    label (``"B"``, ``" B"``, ``"B."``) are summed. A label absent from the listed top tokens
    gets an even share of the mass left unlisted, at most the least listed probability (an
    upper bound on any unlisted token), before renormalising."""
    logprobs = (getattr(message, "response_metadata", None) or {}).get("logprobs") or {}
    content = logprobs.get("content") or []
    if not content or not content[0].get("top_logprobs"):
        return None
    top = content[0]["top_logprobs"]
    mass: dict[str, float] = {}
    for entry in top:
        name = _token_label(str(entry.get("token", "")))
        if name in labels:
            mass[name] = mass.get(name, 0.0) + math.exp(float(entry["logprob"]))
    if sum(mass.values()) < 0.05:
        return None
    listed = [math.exp(float(e["logprob"])) for e in top]
    absent = [name for name in labels if name not in mass]
    floor = min(min(listed), max(1.0 - sum(listed), 0.0) / len(absent)) if absent else 0.0
    raw = {name: mass.get(name, floor) for name in labels}
    total = sum(raw.values())
    return {name: p / total for name, p in raw.items()}


def interpolated_median(distribution: Mapping[str, float]) -> float:
    """The median of a distribution over a scale's whole numbers, each read as the middle of a
    unit-wide bucket, so it can fall between numbers (3.67) and moves with every shift of
    probability around it."""
    items = sorted((float(k), p) for k, p in distribution.items())
    cumulative = 0.0
    for value, p in items:
        if p > 0 and cumulative + p >= 0.5:
            return value - 0.5 + (0.5 - cumulative) / p
        cumulative += p
    return items[-1][0]


def rating_point(distribution: Mapping[str, float], scale: RatingScale) -> tuple[float, float]:
    """(median, mean) of a distribution over the scale's whole numbers: the interpolated median
    snapped to the scale's step, and the mean (not snapped)."""
    mean = sum(float(v) * p for v, p in distribution.items())
    return scale.snap(interpolated_median(distribution)), round(mean, 6)


def _from_distribution(spec: AnswerSpec, distribution: dict[str, float], path: str) -> ClosedAnswer:
    if spec.scale:
        median, mean = rating_point(distribution, spec.scale)
        return ClosedAnswer(label(median), {k: round(p, 6) for k, p in distribution.items()}, path, median, mean)
    by_option = {o: round(distribution[letter], 6) for letter, o in zip(LETTERS, spec.options)}
    return ClosedAnswer(max(by_option, key=by_option.get), by_option, path)


def parse_text(spec: AnswerSpec, text: str) -> ClosedAnswer:
    """A generated reply read as a closed-form answer (the fallback path): a letter or an option
    named in it; a number on the scale. Unreadable: an empty distribution."""
    if spec.scale:
        value = first_on_scale(text, spec.scale.low, spec.scale.high)
        if value is not None:
            rating = spec.scale.snap(value)
            return ClosedAnswer(label(rating), {label(rating): 1.0}, "text", rating, rating)
        return ClosedAnswer(text.strip(), {}, "text")
    first = first_line(text)
    index = first_letter(first, len(spec.options))
    if index is None:
        index = spec.index_of(first)
    if index is None:
        return ClosedAnswer(text.strip(), {}, "text")
    return ClosedAnswer(spec.options[index], {o: float(i == index) for i, o in enumerate(spec.options)}, "text")


def _has_something(reply: BaseMessage) -> BaseMessage:
    """One token may be blank (what counts is its distribution); a reply with neither a
    distribution nor text is a failed call, retried like one."""
    if not (reply.response_metadata or {}).get("logprobs") and not reply.text.strip():
        raise ModelReplyError("the model returned neither a token distribution nor text")
    return reply


_no_logprobs: set[int] = set()
_no_logprobs_lock = threading.Lock()


def decode(model: BaseChatModel, messages: list[BaseMessage], spec: AnswerSpec,
           retry: RetryPolicy | None = None) -> tuple[ClosedAnswer, list[BaseMessage]]:
    """Answer ``messages`` (whose last message is ``spec.render(...)``) in closed form, each
    call retried under ``retry`` (``resilience``). Returns the answer and the model replies it
    took (one; two the first time an endpoint turns out to return no log-probabilities)."""
    replies = []
    if id(model) not in _no_logprobs:
        ask = limited(model, 1, logprobs=True, top_logprobs=TOP_LOGPROBS) | RunnableLambda(_has_something)
        reply = retried(ask, retry).invoke(messages)
        replies.append(reply)
        distribution = token_distribution(reply, spec.labels())
        if distribution is not None:
            return _from_distribution(spec, distribution, "logprobs"), replies
        if not (reply.response_metadata or {}).get("logprobs"):
            with _no_logprobs_lock:
                _no_logprobs.add(id(model))
    reply = usable_reply(limited(model, TEXT_REPLY_TOKENS), retry).invoke(messages)
    replies.append(reply)
    return parse_text(spec, reply.text), replies


def _names(word: str, label: str) -> bool:
    """Whether a reply's first word, or a first token of it, names ``label``: "pre" and
    "preference" both name "preference"."""
    return (len(word) >= 2 and label.startswith(word)) or word.startswith(label)


def _two_way_mass(message: BaseMessage, first: str, second: str) -> tuple[float, float] | None:
    """The first token's probability of naming ``first`` and of naming ``second`` (any case or
    spacing), or None when the reply has no log-probabilities."""
    content = ((getattr(message, "response_metadata", None) or {}).get("logprobs") or {}).get("content") or []
    if not content or not content[0].get("top_logprobs"):
        return None
    mass = [0.0, 0.0]
    for entry in content[0]["top_logprobs"]:
        word = _token_label(str(entry.get("token", ""))).lower()
        for n, label in enumerate((first, second)):
            if _names(word, label):
                mass[n] += math.exp(float(entry["logprob"]))
                break
    return mass[0], mass[1]


def two_way_probability(model: BaseChatModel, messages: list[BaseMessage], first: str = "yes", second: str = "no",
                        retry: RetryPolicy | None = None) -> float:
    """p(``first``) against ``second`` for a question answered with one of two words (yes or no
    by default), from the first token (one call, one token). An endpoint without
    log-probabilities is asked for a short reply instead, read as 1 (``first``) or 0; a reply
    that names neither is 0."""
    if id(model) not in _no_logprobs:
        ask = limited(model, 1, logprobs=True, top_logprobs=TOP_LOGPROBS) | RunnableLambda(_has_something)
        mass = _two_way_mass(retried(ask, retry).invoke(messages), first, second)
        if mass is not None:
            a, b = mass
            return a / (a + b) if a + b >= 0.05 else 0.0
        with _no_logprobs_lock:
            _no_logprobs.add(id(model))
    words = norm(usable_reply(limited(model, TEXT_REPLY_TOKENS), retry).invoke(messages).text).split()
    return 1.0 if words[:1] and _names(words[0], first) else 0.0


def weigh(answer: ClosedAnswer, fit: Mapping[str, float]) -> ClosedAnswer:
    """``answer`` with each option's probability multiplied by how well the option fits (0 to 1,
    e.g. what the user stated) and renormalised; unchanged when nothing fits at all."""
    raw = {o: p * float(fit.get(o, 1.0)) for o, p in answer.distribution.items()}
    total = sum(raw.values())
    if not raw or total <= 0:
        return answer
    weighed = {o: round(p / total, 6) for o, p in raw.items()}
    return ClosedAnswer(max(weighed, key=weighed.get), weighed, answer.path, extra=answer.extra)


def option_orders(options: Sequence[str], count: int) -> list[tuple[str, ...]]:
    """The orders a choice is read under: ``count`` cyclic shifts of ``options`` spread evenly
    over the positions (the order given first); ``count`` 0, or at least the number of options,
    gives every shift, so each option takes each position once."""
    shifts = rotations(options)
    n = len(shifts)
    k = n if count <= 0 or count >= n else count
    return [tuple(shifts[s]) for s in sorted({round(i * n / k) % n for i in range(k)})]


def decode_orders(model: BaseChatModel, messages_for: Callable[[AnswerSpec], list[BaseMessage]], spec: AnswerSpec,
                  orders: int = 0, retry: RetryPolicy | None = None) -> tuple[ClosedAnswer, list[BaseMessage]]:
    """Like ``decode``, with a choice read under several orders of its options
    (``option_orders``): one call per order, the option probabilities averaged over the orders
    that were read, so the letter an option happens to get weighs less. ``messages_for(spec)``
    builds the request for one order. The answer's ``extra["orders"]`` holds each order's
    distribution (option → probability), the order given first. A rating has one reading."""
    if spec.scale:
        return decode(model, messages_for(spec), spec, retry)
    readings, replies = [], []
    for order in option_orders(spec.options, orders):
        shown = AnswerSpec(options=order)
        answer, used = decode(model, messages_for(shown), shown, retry)
        readings.append(answer)
        replies += used
    read = [a.distribution for a in readings if a.distribution]
    if not read:
        return readings[0], replies
    mean = {o: round(fmean(d[o] for d in read), 6) for o in spec.options}
    path = "logprobs" if all(a.path == "logprobs" for a in readings) else "text"
    return ClosedAnswer(max(mean, key=mean.get), mean, path,
                        extra={"orders": [a.distribution for a in readings]}), replies


# --- losses ------------------------------------------------------------------------------


def option_loss(distribution: Mapping[str, float], wanted_index: int, options: Sequence[str]) -> float:
    """1 − p(the option the user wanted): continuous, so a persona that makes the right option
    more certain scores better even when the top answer does not change. Unread answers: 1."""
    return 1.0 - float(distribution.get(options[wanted_index], 0.0)) if distribution else 1.0


def rating_loss(distribution: Mapping[str, float], truth: float, scale: RatingScale) -> float:
    """Expected absolute error of the rating distribution against the user's rating. An answer
    with no rating is scored as the scale's midpoint (the report counts it the same way)."""
    if not distribution:
        return abs(scale.midpoint - truth)
    return sum(p * abs(float(value) - truth) for value, p in distribution.items())


def median_loss(distribution: Mapping[str, float], truth: float, scale: RatingScale) -> float:
    """Absolute error of the distribution's interpolated median (before snapping) against the
    user's rating: what MAE measures, yet still continuous. No rating: the scale's midpoint."""
    if not distribution:
        return abs(scale.midpoint - truth)
    return abs(interpolated_median(distribution) - truth)
