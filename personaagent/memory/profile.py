"""Semantic memory: a per-user profile that a model summarises from episodic memory, versioned."""

from __future__ import annotations

from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.types import RetryPolicy

from .. import prompts
from ..prompts import quote
from ..models.resilience import retried
from .episodic import Interaction
from .profile_check import checked, last_supported, tastes

MAX_PROFILE_INTERACTIONS = 60
MAX_DOMAINS = 6
PER_DOMAIN = 8
MAX_LINE_CHARS = 200


MAX_OPTIONS_SHOWN = 8
MAX_OPTION_CHARS = 100


def describe(item: Interaction) -> str:
    """One line for a prompt: what was asked (with its options) and what the user wanted (or was
    answered)."""
    line = f'asked "{quote(item.query)}"'
    if item.options:
        shown = "; ".join(quote(o)[:MAX_OPTION_CHARS] for o in item.options[:MAX_OPTIONS_SHOWN])
        line += f" (options: {shown})"
    if item.ground_truth is not None:
        line += f' and chose "{quote(item.ground_truth)}"'
    elif item.answer:
        line += f' and was answered "{quote(item.answer[:200])}"'
    if item.feedback:
        line += f' (feedback: "{quote(item.feedback)}")'
    return line


def _domain(item: Interaction) -> str:
    return str(item.metadata.get("domain") or item.metadata.get("task") or "requests")


def _prompt_line(item: Interaction) -> str:
    wanted = item.ground_truth if item.ground_truth is not None else item.answer[:200]
    options = f" (options: {'; '.join(item.options[:MAX_OPTIONS_SHOWN])})" if item.options else ""
    line = f"- asked: {item.query}{options}; wanted: {wanted}"
    return line + (f" (feedback: {item.feedback})" if item.feedback else "")


def by_domain(items: list[Interaction]) -> dict[str, list[Interaction]]:
    grouped: dict[str, list[Interaction]] = {}
    for item in items:
        grouped.setdefault(_domain(item), []).append(item)
    return grouped


@dataclass(frozen=True)
class ProfileSummary:
    """A profile as stored (``text``), with what the check against the history did: the lines
    the model wrote, how many of them the history contradicted, the phrases dropped, and the day
    the history last supported each phrase kept (``"domain: phrase"`` → ISO day)."""

    text: str
    lines_written: int
    lines_contradicted: int
    dropped: tuple[str, ...]
    supported: dict[str, str] = field(default_factory=dict)


def summarise_profile(model: BaseChatModel, items: list[Interaction],
                      retry: RetryPolicy | None = None, half_life_days: float = 0.0) -> ProfileSummary:
    """The profile of the user behind ``items``: one model-written line per task domain (the
    most frequent ``MAX_DOMAINS``, each from its latest ``PER_DOMAIN`` interactions), each line
    checked against the domain's whole labelled history (``profile_check``, recency-weighted with
    a half-life in days; 0: off). Bounded. Each call
    is retried on its own under ``retry``
    (``resilience.retried``).
    """
    recent, everything = by_domain(items[-MAX_PROFILE_INTERACTIONS:]), by_domain(items)
    lines, dropped, contradicted, supported = [], [], 0, {}
    for domain in sorted(recent, key=lambda d: -len(recent[d]))[:MAX_DOMAINS]:  # most frequent first
        reply = retried(model, retry).invoke([
            SystemMessage(prompts.PROFILE_INSTRUCTION.format(domain=domain)),
            HumanMessage("\n".join(map(_prompt_line, recent[domain][-PER_DOMAIN:]))),
        ])
        text, wrong = checked(" ".join(reply.text.split())[:MAX_LINE_CHARS], *tastes(everything[domain], half_life_days))
        dropped += wrong
        contradicted += bool(wrong)
        if text:
            lines.append(f"- {domain}: {text}")
            supported |= {f"{domain}: {p}": day for p, day in last_supported(text, everything[domain]).items()}
    if not lines:
        raise ValueError("the model returned an empty profile")
    return ProfileSummary("\n".join(lines), min(len(recent), MAX_DOMAINS), contradicted, tuple(dropped), supported)
