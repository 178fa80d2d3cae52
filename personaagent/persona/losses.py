"""Per-sample losses for the optimizer: a number (lower is better) plus a textual loss that says
what differed. Built in: exact match for labels, absolute error for ratings, an LLM judge for free
text. Any callable ``(sample, answer) -> Score`` can stand in for them."""

from __future__ import annotations

from functools import partial
from dataclasses import dataclass
from typing import Any, Callable, Protocol, get_args

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableLambda
from langgraph.types import RetryPolicy
from pydantic import BaseModel, Field

from .. import prompts
from ..answers.closed_form import AnswerSpec, RatingScale, median_loss, option_loss, rating_loss
from ..answers.text import LETTERS, NUMBER, first_letter, first_line, first_on_scale, norm
from ..errors import ModelReplyError, PersonaAgentError
from ..models.factory import structured
from ..models.resilience import retried
from .settings import MetricName


@dataclass
class Score:
    loss: float
    feedback: str
    model_calls: int = 0


class Metric(Protocol):
    def __call__(self, sample: dict[str, Any], answer: str) -> Score: ...


def label_match(sample: dict[str, Any], answer: str) -> Score:
    """0 when the answer's first line is the label, or names it as a whole phrase; else 1."""
    wanted, said = norm(sample["ground_truth"]), norm(first_line(answer))
    if wanted and (said == wanted or f" {wanted} " in f" {said} "):
        return Score(0.0, "matched the user's choice")
    return Score(1.0, f'answered "{first_line(answer)[:120]}" but the user wanted "{sample["ground_truth"]}"')


def choice_match(sample: dict[str, Any], answer: str) -> Score:
    """Multiple choice among four: 0 when the first option letter A–D in the answer is the right
    one; else 1."""
    index = first_letter(answer, 4)
    letter = LETTERS[index] if index is not None else None
    if letter == sample["ground_truth"]:
        return Score(0.0, "picked the option the user wanted")
    said = f"picked {letter}" if letter else f'named no option letter ("{first_line(answer)[:80]}")'
    return Score(1.0, f'{said}; the user wanted {sample["ground_truth"]}')


def rating_error(sample: dict[str, Any], answer: str) -> Score:
    """|predicted − true| for ratings (on the sample's scale, else 0.5–5). An answer with no
    rating is scored as the scale's midpoint, as the evaluation report counts it."""
    truth = float(sample["ground_truth"])
    scale = RatingScale.of(sample["scale"]) if sample.get("scale") else RatingScale(0.5, 5.0, 0.5)
    predicted = first_on_scale(answer, scale.low, scale.high)
    if predicted is None:
        return Score(abs(scale.midpoint - truth), f"gave no rating; the user's rating was {truth:g}")
    error = abs(predicted - truth)
    direction = "too high" if predicted > truth else "too low" if predicted < truth else "exact"
    return Score(error, f"predicted {predicted:g}, the user's rating was {truth:g} ({direction})")


class Judgement(BaseModel):
    """How well an assistant's answer gives the user what they wanted."""

    score: float = Field(description="0 = not at all what the user wanted, 1 = exactly what they wanted")
    difference: str = Field(description="one sentence on what differs from what the user wanted")


def _verdict(reply: Judgement | None) -> Judgement:
    if reply is None:
        raise ModelReplyError("the judge model returned no structured verdict (score, difference)")
    return reply


def make_judge(model: BaseChatModel, retry: RetryPolicy | None = None) -> Metric:
    """An LLM judge: loss = 1 − score in [0, 1], with the judge's sentence as the textual loss.
    Each verdict is retried on its own under ``retry`` (a batch of verdicts is not redone for one
    failed call); a missing or malformed verdict counts as a transient failure."""
    judge = retried(structured(model, Judgement) | RunnableLambda(_verdict), retry)

    def metric(sample: dict[str, Any], answer: str) -> Score:
        verdict = judge.invoke([
            SystemMessage(prompts.JUDGE_INSTRUCTION),
            HumanMessage(prompts.JUDGE_INPUT.format(
                query=sample["query"], wanted=sample["ground_truth"], answer=answer)),
        ])
        score = min(max(float(verdict.score), 0.0), 1.0)
        return Score(1.0 - score, verdict.difference.strip() or "no reason given", model_calls=1)

    return metric


def _top(distribution: dict[str, float], n: int = 3) -> str:
    shown = sorted(distribution.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{k[:60]}: {p:.2f}" for k, p in shown)


def closed_loss(sample: dict[str, Any], answer: str, median: bool = False) -> Score:
    """The continuous loss of a closed-form answer, read from its distribution (``sample``
    carries ``distribution`` and ``options`` or ``scale``): 1 − p(the option the user wanted), or
    the expected absolute error of the rating (``median``: the absolute error of the rating's
    interpolated median, what MAE measures). A persona that makes the right answer more likely
    scores better even when the top answer stays the same."""
    distribution = sample.get("distribution") or {}
    if sample.get("scale"):
        scale = RatingScale.of(sample["scale"])
        truth = float(sample["ground_truth"])
        loss = (median_loss if median else rating_loss)(distribution, truth, scale)
        if not distribution:
            return Score(loss, f"gave no rating; the user's rating was {truth:g}")
        mean = sum(float(k) * p for k, p in distribution.items())
        direction = "too high" if mean > truth else "too low" if mean < truth else "right on average"
        return Score(loss, f"rated {answer} (mean {mean:.2f}; {_top(distribution)}); the user's rating was "
                           f"{truth:g}: {direction}, {'error of the median' if median else 'expected error'} {loss:.2f}")
    options = sample["options"]
    wanted = AnswerSpec.of(options).index_of(sample["ground_truth"])
    if wanted is None:
        raise PersonaAgentError(f"the ground truth {sample['ground_truth']!r} is not one of the sample's options")
    loss = option_loss(distribution, wanted, options)
    if not distribution:
        return Score(loss, f'gave no option; the user wanted "{options[wanted]}"')
    return Score(loss, f'chose "{answer[:80]}" ({_top(distribution)}); the user wanted "{options[wanted][:80]}" '
                       f"(p {distribution.get(options[wanted], 0.0):.2f})")


METRICS = get_args(MetricName)


def choose_metric(name: str, samples: list[dict[str, Any]]) -> str:
    """Resolve ``auto``: samples that all state their options or scale → closed (continuous);
    numeric truths → rating; truths that are one of the options named in their request, or short
    (≤ 8 words) → label; else judge."""
    if name not in METRICS:
        raise PersonaAgentError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}")
    if name != "auto":
        return name
    if samples and all(s.get("options") or s.get("scale") for s in samples):
        return "closed"
    truths = [str(s["ground_truth"]) for s in samples]
    if truths and all(NUMBER.fullmatch(t.strip()) for t in truths):
        return "rating"
    if truths and all(t.lower() in str(s["query"]).lower() or len(t.split()) <= 8 for t, s in zip(truths, samples)):
        return "label"
    return "judge"


def build_metric(name: str, model_factory: Callable[[], BaseChatModel], retry: RetryPolicy | None = None) -> Metric:
    if name == "label":
        return label_match
    if name == "rating":
        return rating_error
    if name == "choice":
        return choice_match
    if name == "closed":
        return closed_loss
    if name == "median":
        return partial(closed_loss, median=True)
    return make_judge(model_factory(), retry)
