"""Semantic memory: a per-user profile that a model summarises from episodic memory, versioned."""

from __future__ import annotations

from collections import Counter

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from .. import prompts
from .episodic import Interaction

MAX_PROFILE_INTERACTIONS = 30


def describe(item: Interaction) -> str:
    """One line for a prompt: what was asked and what the user wanted (or was answered)."""
    line = f'asked "{item.query}"'
    if item.ground_truth is not None:
        line += f' and chose "{item.ground_truth}"'
    elif item.answer:
        line += f' and was answered "{item.answer[:200]}"'
    if item.feedback:
        line += f' (feedback: "{item.feedback}")'
    return line


def focus_of(items: list[Interaction]) -> str:
    """Task awareness: the domains the user's requests are about, most frequent first."""
    domains = Counter(str(i.metadata.get("domain") or i.metadata.get("task") or "") for i in items)
    named = [d for d, _ in domains.most_common() if d]
    return ", ".join(named[:8]) if named else "the kinds of requests shown below"


def summarise_profile(model: BaseChatModel, items: list[Interaction]) -> str:
    """Ask ``model`` for the profile of the user behind ``items`` (latest ones when many)."""
    recent = items[-MAX_PROFILE_INTERACTIONS:]
    lines = "\n".join(f"{n}. {describe(i)}" for n, i in enumerate(recent, 1))
    reply = model.invoke([
        SystemMessage(prompts.PROFILE_INSTRUCTION.format(focus=focus_of(recent))),
        HumanMessage(prompts.PROFILE_INPUT.format(interactions=lines)),
    ])
    text = reply.text.strip() if hasattr(reply, "text") else str(reply.content).strip()
    if not text:
        raise ValueError("the model returned an empty profile")
    return text
