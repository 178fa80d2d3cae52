"""Edit operators: each turns the current persona into one candidate, changing one part of it.

- ``evidence``: code computes figures from the user's labelled history (``evidence.py``) and
  writes them into the evidence section.
- ``prune``: code drops the longest section the model wrote (at first the profile summary) or the
  section borrowed from similar users, so the persona without it competes; selection keeps the
  cut only where that section was hurting.
- ``examples``: code picks the past interactions closest to the misses and pins them as examples.
- ``edit``: the model returns add / replace / delete operations on named sections through
  structured output; code applies them, so a weak model cannot garble the rest.
- ``section``: the model rewrites one section from the critique; code puts it in place.
- ``lookups`` (not a default): code adds one source to the lookup rules for the batch's kind of
  request, one the persona skips and that holds something for this user, so alignment can change
  what the agent reads; selection keeps it only where reading it helps.

Every other candidate keeps the persona's lookup rules verbatim; all keep its length bound. An
operator that has nothing to change returns no candidate.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.types import RetryPolicy
from pydantic import BaseModel, Field

from .. import prompts
from .evidence import TITLE as EVIDENCE, evidence_section
from .stated import TITLE as STATED
from ..memory.episodic import Interaction
from ..memory.neighbours import TITLE as BORROWED
from ..memory.profile import describe
from ..models.factory import limited, structured
from ..models.resilience import retried
from .sections import LOOKUPS, join_sections, lookup_rules, remove_section, replace_section, section, split_sections, with_lookup

EXAMPLES = "Examples of this user's past choices"
PROTECTED = (LOOKUPS, EVIDENCE, EXAMPLES, STATED, BORROWED)  # written by code (or the user's words), never by the model
KEPT = (LOOKUPS, STATED)  # every candidate keeps these verbatim, and the length bound never cuts them
PRUNABLE = (BORROWED,)  # written by code, yet prune may drop it: other users' tastes are only a starting guess
OPENING = "(opening)"  # how the untitled first part of a persona is named to the model
MAX_EDITS = 3
MAX_SECTION_TOKENS = 400


@dataclass
class Candidate:
    operator: str
    persona: str
    note: str  # what changed, in a few words


@dataclass
class Proposal:
    """What an operator works from."""

    persona: str
    critique: str
    misses: list[dict]  # batch samples the current persona answered worst, worst first
    history: list[Interaction]  # labelled interactions older than every sample the optimizer judges on
    similar: Callable[[str, int], list[Interaction]]  # older interactions closest to a text
    model: BaseChatModel | None
    retry: RetryPolicy | None
    max_chars: int
    max_examples: int
    signed_error: float | None = None
    half_life_days: float = 0.0  # recency weighting of the evidence (``Context.recency_half_life_days``)
    kind: str = "open"  # the batch's kind of request: choice, rating or open
    readable: tuple[str, ...] = ()  # the lookups this configuration can make that hold something for the user


def editable_sections(persona: str) -> list[str]:
    names = [name or OPENING for name, body in split_sections(persona) if name not in PROTECTED and (name or body)]
    return names or [OPENING]


def fit(persona: str, max_chars: int) -> str:
    """``persona`` within ``max_chars``, not counting what the user stated: the longest editable
    section loses its last lines first; the lookup rules and the user's statements are never cut.
    Empty when it cannot fit."""
    sections = split_sections(persona)
    while len(join_sections(s for s in sections if s[0] != STATED)) > max_chars:
        sizes = [(len(body), i) for i, (name, body) in enumerate(sections) if name not in KEPT and body]
        if not sizes:
            return ""
        _, i = max(sizes)
        name, body = sections[i]
        sections[i] = (name, "\n".join(body.splitlines()[:-1]))
    return join_sections(sections)


Outcome = tuple[Candidate | None, int, int]  # the candidate (or none), model calls, tokens


def _finish(operator: str, current: str, persona: str, max_chars: int, note: str,
            keep_rules: bool = True) -> Candidate | None:
    for title in KEPT if keep_rules else (STATED,):
        kept = section(current, title)
        if section(persona, title) != kept:
            persona = replace_section(persona, title, kept) if kept is not None else remove_section(persona, title)
    persona = fit(persona, max_chars)
    if not persona.strip() or persona.strip() == current.strip():
        return None
    return Candidate(operator, persona, note)


def evidence(p: Proposal, run_name: str = "") -> Outcome:
    body = evidence_section(p.history, p.signed_error, p.half_life_days)
    if not body:
        return None, 0, 0
    return _finish("evidence", p.persona, replace_section(p.persona, EVIDENCE, body), p.max_chars,
                   f"evidence from {len(p.history)} past interactions"), 0, 0


def prune(p: Proposal, run_name: str = "") -> Outcome:
    sizes = [(len(body.splitlines()), -i, name) for i, (name, body) in enumerate(split_sections(p.persona))
             if name and (name not in PROTECTED or name in PRUNABLE) and body.strip()]
    if not sizes:
        return None, 0, 0
    _, _, name = max(sizes)
    return _finish("prune", p.persona, remove_section(p.persona, name), p.max_chars, f"dropped {name}"), 0, 0


def examples(p: Proposal, run_name: str = "") -> Outcome:
    chosen: list[Interaction] = []
    for miss in p.misses:
        for item in p.similar(miss["query"], 5):
            if item.labelled and item.id not in {c.id for c in chosen}:
                chosen.append(item)
                break
        if len(chosen) >= p.max_examples:
            break
    if not chosen:
        return None, 0, 0
    body = "\n".join(f"- The user {describe(item)}." for item in chosen)
    return _finish("examples", p.persona, replace_section(p.persona, EXAMPLES, body), p.max_chars,
                   f"{len(chosen)} pinned example(s)"), 0, 0


def lookups(p: Proposal, run_name: str = "") -> Outcome:
    rules = lookup_rules(p.persona)
    skipped = [name for name in p.readable if p.kind not in rules.get(name, ())]
    if section(p.persona, LOOKUPS) is None or not skipped:
        return None, 0, 0
    return _finish("lookups", p.persona, with_lookup(p.persona, skipped[0], p.kind), p.max_chars,
                   f"reads {skipped[0]} on {p.kind} requests", keep_rules=False), 0, 0


class Edit(BaseModel):
    """One change to one line of the persona."""

    action: Literal["add", "replace", "delete"] = Field(description="add a line, replace a line, or delete a line")
    section: str = Field(description="the name of the section to change, exactly as listed")
    line: str = Field("", description="replace/delete: the existing line, as written in that section")
    text: str = Field("", description="add/replace: the new line, one sentence")


class Edits(BaseModel):
    """Changes to make to the persona."""

    edits: list[Edit] = Field(description=f"1 to {MAX_EDITS} changes")


def _closest(lines: list[str], wanted: str) -> int | None:
    scores = [difflib.SequenceMatcher(None, line.lower(), wanted.lower()).ratio() for line in lines]
    best = max(range(len(lines)), key=scores.__getitem__, default=None)
    return best if best is not None and scores[best] >= 0.5 else None


def _target(sections: list[tuple[str, str]], named: str) -> int | None:
    """The section an edit naming ``named`` goes to: the editable section of that name or the
    closest one; a name no section resembles goes to the first titled editable section (small
    models name the headings of their input). A protected section is never a target."""
    named = named.strip().strip("#[]").strip().lower()
    if any(named == title.lower() for title in PROTECTED):
        return None
    editable = [i for i, (name, _) in enumerate(sections) if name not in PROTECTED]
    names = [(sections[i][0] or OPENING).lower() for i in editable]
    at = _closest(names, named)
    if at is not None:
        return editable[at]
    return next((i for i in editable if sections[i][0]), editable[0] if editable else None)


def apply_edits(persona: str, edits: list[Edit]) -> tuple[str, list[str]]:
    """``persona`` with ``edits`` applied to editable sections only; returns it and a note per
    applied edit. Edits naming a protected section, deleting a line not found or carrying no text
    are skipped; a replace whose line is not found adds its text instead."""
    sections = split_sections(persona)
    applied = []
    for edit in edits[:MAX_EDITS]:
        i = _target(sections, edit.section)
        text = " ".join(edit.text.split()).lstrip("-* ").strip()
        if i is None:
            continue
        name, body = sections[i]
        lines = body.splitlines()
        at = _closest(lines, edit.line) if edit.line.strip() else None
        action = "add" if edit.action == "replace" and at is None else edit.action
        if action == "add" and text:
            lines.append(f"- {text}")
        elif action == "replace" and text:
            lines[at] = f"- {text}"
        elif action == "delete" and at is not None:
            del lines[at]
        else:
            continue
        sections[i] = (name, "\n".join(lines))
        applied.append(f"{action} in {name or OPENING}")
    return join_sections(sections), applied


def _show(persona: str) -> str:
    return "\n\n".join(f"[{name or OPENING}]\n{body}" for name, body in split_sections(persona)
                       if name not in PROTECTED and (name or body))


def _tokens(message) -> int:
    return int((getattr(message, "usage_metadata", None) or {}).get("total_tokens", 0))


def edit(p: Proposal, run_name: str = "edit") -> Outcome:
    if p.model is None or not p.critique:
        return None, 0, 0
    names = editable_sections(p.persona)
    ask = [SystemMessage(prompts.EDIT_INSTRUCTION.format(sections=", ".join(names))),
           HumanMessage(prompts.EDIT_INPUT.format(persona=_show(p.persona), critique=p.critique))]
    raw = retried(structured(p.model, Edits, include_raw=True), p.retry).invoke(ask, config={"run_name": run_name})
    parsed, tokens = raw.get("parsed"), _tokens(raw.get("raw"))
    if parsed is None:  # no usable structured reply: no candidate (a retry would get the same reply)
        return None, 1, tokens
    persona, applied = apply_edits(p.persona, parsed.edits)
    if not applied:
        return None, 1, tokens
    return _finish("edit", p.persona, persona, p.max_chars, "; ".join(applied)), 1, tokens


def rewrite_section(p: Proposal, run_name: str = "section") -> Outcome:
    if p.model is None or not p.critique:
        return None, 0, 0
    names = [n for n in editable_sections(p.persona) if n != OPENING] or [OPENING]
    name = names[0]
    body = section(p.persona, name) if name != OPENING else split_sections(p.persona)[0][1]
    reply = retried(limited(p.model, MAX_SECTION_TOKENS), p.retry).invoke([
        SystemMessage(prompts.SECTION_INSTRUCTION.format(section=name)),
        HumanMessage(prompts.SECTION_INPUT.format(section=name, body=body or "(empty)", critique=p.critique)),
    ], config={"run_name": run_name})
    tokens = _tokens(reply)
    if reply.response_metadata.get("finish_reason") == "length":  # cut off: not a candidate
        return None, 1, tokens
    lines = [line.strip() for line in reply.text.strip().splitlines()
             if line.strip() and not line.strip().startswith("#")]
    new = "\n".join(f"- {line.lstrip('-* ').strip()}" for line in lines)
    if not new:
        return None, 1, tokens
    if name == OPENING:
        sections = split_sections(p.persona)
        sections[0] = ("", new)
        persona = join_sections(sections)
    else:
        persona = replace_section(p.persona, name, new)
    return _finish("section", p.persona, persona, p.max_chars, f"rewrote {name}"), 1, tokens


MODEL_OPERATORS = {"edit", "section"}  # those that write from the critique
OPERATORS: dict[str, Callable[..., Outcome]] = {
    "evidence": evidence, "prune": prune, "examples": examples, "edit": edit, "section": rewrite_section,
    "lookups": lookups,
}


def propose(p: Proposal, operators: list[str], count: int, run_name: str) -> tuple[list[Candidate], int, int]:
    """Up to ``count`` distinct candidates from ``operators`` taken in order (an operator with
    nothing to change is passed over); returns them and the model calls and tokens spent."""
    found: list[Candidate] = []
    calls = tokens = 0
    for name in operators:
        if len(found) >= count:
            break
        candidate, spent, used = OPERATORS[name](p, run_name=f"{run_name}: {name}")
        calls, tokens = calls + spent, tokens + used
        if candidate and all(candidate.persona != c.persona for c in found):
            found.append(candidate)
    return found, calls, tokens
