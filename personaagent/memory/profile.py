"""Semantic memory: a per-user profile that a model summarises from episodic memory, versioned."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.types import RetryPolicy

from .. import prompts
from ..prompts import quote
from ..models.resilience import retried
from .episodic import Interaction

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


def summarise_profile(model: BaseChatModel, items: list[Interaction], retry: RetryPolicy | None = None) -> str:
    """The profile of the user behind ``items``: one model-written line per task domain (the
    most frequent ``MAX_DOMAINS``, each from its latest ``PER_DOMAIN`` interactions). Bounded.
    Each call is retried on its own under ``retry`` (``resilience.retried``).
    """
    by_domain: dict[str, list[Interaction]] = {}
    for item in items[-MAX_PROFILE_INTERACTIONS:]:
        by_domain.setdefault(_domain(item), []).append(item)
    domains = sorted(by_domain, key=lambda d: -len(by_domain[d]))[:MAX_DOMAINS]  # most frequent first
    lines = []
    for domain in domains:
        reply = retried(model, retry).invoke([
            SystemMessage(prompts.PROFILE_INSTRUCTION.format(domain=domain)),
            HumanMessage("\n".join(map(_prompt_line, by_domain[domain][-PER_DOMAIN:]))),
        ])
        text = " ".join(reply.text.split())[:MAX_LINE_CHARS]
        if text:
            lines.append(f"- {domain}: {text}")
    if not lines:
        raise ValueError("the model returned an empty profile")
    return "\n".join(lines)
