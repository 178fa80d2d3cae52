"""The ablation ladder for one user: the same model answers the same test items several ways.

non_personalized  no memory, no persona: the bare model
memory_only       the agent graph (retrieval + lookups) under a fixed generic persona
persona           the agent graph under the user's persona built from their profile alone
neighbours        a cold start: the persona rung's persona plus what the users whose first
                  interactions most resemble this user's share (``memory.neighbours``), as the
                  product seeds a newcomer (only users given a neighbour pool, ``eval coldstart``)
default           the product's default path: the profile persona plus what the user stated, found
                  in their history and kept in the persona (``persona.stated``), as ingesting does
evidence          the default persona plus the evidence section computed from all of the user's
                  history (an ablation: what code-computed figures add without any optimization)
catalogue         the evidence rung's persona with lookup rules that also read the user's knowledge
                  collection (the dataset's item catalogue) on ratings: what other users' figures
                  for the item add (only users whose dataset gives them a catalogue)
oracle            the persona rung's persona with the preference as the dataset states it added to what
                  it knows of the user: a ceiling for any persona edit, not a method (only datasets
                  that state the preference, PrefEval)
full              the agent graph after test-time alignment (the optimizer) of the default persona

Every agent-graph answer is produced with ``record=False`` and ``as_of`` = the item's time, so no
test item is written to memory or retrieved. Items with options or a rating scale are answered in
closed form (their distribution is recorded; a choice under every cyclic order of its options, so
the report can compare readings); the record of a user holds the model's answers and timings but no
ground truth, so it can be committed and the report rebuilt from the data.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any, Callable

from langchain_core.messages import HumanMessage, SystemMessage

from .. import prompts
from ..answers.closed_form import AnswerSpec, decode_orders
from ..context import Context
from ..memory import neighbours
from ..persona.evidence import TITLE as EVIDENCE, evidence_section
from ..graphs.agent import build_agent_graph
from ..services.optimize import run_optimizer
from ..persona.sections import generic_persona, replace_section, section, with_lookup
from ..persona import stated
from ..persona.stated import stated_in, statements
from ..models.resilience import usable_reply
from ..nodes.optimizer import SUMMARY_KEYS
from ..resources import Resources
from ..persona.settings import OptimizerSettings
from .types import EvalItem, EvalUser

RUNGS = ("non_personalized", "memory_only", "persona", "neighbours", "default", "evidence", "catalogue", "oracle", "full")
LADDER_VERSION = 3  # bump when a change to the code alters the answers a rung gives
OPTIMIZER_VERSION = 2  # bump when a change to the optimizer's code alters what it accepts (the full rung only)
STATED_RUNGS = {"default", "evidence", "catalogue", "full"}  # rungs whose persona keeps what the user stated
# which statements a prompt shows, when there are many (nodes/retrieve.py): part of those rungs' keys
NARROWING = "the statements_shown closest to the request with its options"


@dataclass
class LadderSettings:
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    rungs: tuple[str, ...] = RUNGS
    # orders of its options each choice is answered under (``Context.option_orders``; 0: every
    # cyclic order, so the report can read each rung under one order, several, or all)
    option_orders: int = 0
    # ``Context.recency_half_life_days`` of every rung but the bare model (0: off), for the
    # retrieval, the profile check, the computed evidence and the optimizer's windows
    recency_half_life_days: float = 0.0
    # the neighbours rung: similar users are compared by their first ``cold_start_below``
    # interactions and must have that many labelled ones (``Context.cold_start_below``)
    cold_start_below: int = 20

    def rung_key(self, rung: str, model: str) -> str:
        """What a rung's answers depend on: a cached rung with the same key is reused."""
        parts: dict[str, Any] = {"rung": rung, "model": model, "version": LADDER_VERSION, "orders": self.option_orders,
                                 "prompts": [prompts.GENERIC_ASSISTANT, prompts.GENERIC_PERSONA,
                                             prompts.INITIAL_PERSONA, prompts.PROFILE_INSTRUCTION, prompts.DATA_BLOCK]}
        if self.recency_half_life_days and rung != "non_personalized":
            parts["recency_half_life_days"] = self.recency_half_life_days
        if rung in STATED_RUNGS:
            parts["stated"] = [prompts.STATED_HEADER, prompts.STATED_INSTRUCTION, prompts.STATED_INPUT,
                               stated.THRESHOLD, stated.SAME_SUBJECT, Context().statements_shown, NARROWING]
        if rung == "neighbours":
            parts["neighbours"] = [self.cold_start_below, neighbours.DEFAULT_NEIGHBOURS, neighbours.MIN_SIMILARITY,
                                   neighbours.CENTRE_FROM]
        if rung == "catalogue":
            parts["reads"] = ["knowledge", "rating"]
        if rung == "full":
            parts["optimizer"] = self.optimizer.model_dump()
            parts["optimizer_version"] = OPTIMIZER_VERSION
            parts["optimizer_prompts"] = [prompts.CRITIQUE_INSTRUCTION, prompts.EDIT_INSTRUCTION,
                                          prompts.SECTION_INSTRUCTION]
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def answer_record(item: EvalItem, answer: str, distribution: dict | None, path: str | None,
                  rating: dict | None = None, orders: list[dict] | None = None,
                  calls: int | None = None) -> dict[str, Any]:
    """What is kept of one answer: for options the probabilities in the order presented (their
    mean over the orders read) and, read under several orders, each order's, in the same option
    order; for a rating its distribution and point predictions; else the text. ``calls``: the
    model calls the answer took."""
    record: dict[str, Any] = {"id": item.id, "path": path}
    if calls is not None:
        record["calls"] = calls
    if item.options:
        record["probs"] = [round(float((distribution or {}).get(o, 0.0)), 6) for o in item.options] \
            if distribution else []
        if orders and len(orders) > 1:
            record["orders"] = [[round(float(d.get(o, 0.0)), 6) for o in item.options] for d in orders]
    elif item.scale:
        record |= {"probs": distribution or {}, "median": (rating or {}).get("median"), "mean": (rating or {}).get("mean")}
    else:
        record["text"] = answer
    return record


class _Answerer:
    """Answers one user's test items as a rung asks: the bare model or the agent graph."""

    def __init__(self, user: EvalUser, resources: Resources, context: Context):
        self.resources, self.context = resources, context
        self.model = resources.agent_model_for(context)
        self.graph = build_agent_graph(resources).compile()

    def bare(self, item: EvalItem) -> dict[str, Any]:
        spec = AnswerSpec.of(item.options, item.scale)
        if spec is None:
            messages = [SystemMessage(prompts.GENERIC_ASSISTANT), HumanMessage(item.query)]
            reply = usable_reply(self.model, self.resources.retry).invoke(messages)
            return {"answer": reply.text, "distribution": None, "path": "generated"}
        closed, _ = decode_orders(self.model, lambda shown: [SystemMessage(prompts.GENERIC_ASSISTANT),
                                                             HumanMessage(shown.render(item.query))],
                                  spec, self.context.option_orders, self.resources.retry)
        return {"answer": closed.answer, "distribution": closed.distribution, "path": closed.path,
                "orders": closed.extra.get("orders"), "calls": len(closed.extra.get("orders") or [None]),
                "rating": None if closed.median is None else {"median": closed.median, "mean": closed.mean}}

    def agent(self, item: EvalItem, persona: str | None) -> dict[str, Any]:
        out = self.graph.invoke({"messages": [HumanMessage(item.query)], "persona_override": persona,
                                 "answer_options": item.options, "rating_scale": item.scale,
                                 "as_of": item.timestamp, "record": False}, context=self.context)
        return {"answer": out["answer"], "distribution": out.get("answer_distribution"),
                "path": out.get("answer_path"), "rating": out.get("rating"), "orders": out.get("answer_orders"),
                "calls": out.get("model_calls")}

    @staticmethod
    def rung(items: list[EvalItem], ask: Callable[[EvalItem], dict]) -> dict[str, Any]:
        began = time.monotonic()
        answers = []
        for item in items:
            got = ask(item)
            answers.append(answer_record(item, got["answer"], got["distribution"], got["path"], got.get("rating"),
                                         got.get("orders"), got.get("calls")))
        return {"items": answers, "seconds": round(time.monotonic() - began, 1)}


def evaluate_user(user: EvalUser, resources: Resources, settings: LadderSettings, model_name: str,
                  cached: dict[str, Any] | None = None, stage: Callable[[str], None] = lambda s: None,
                  detections: MutableMapping[str, float] | None = None) -> dict[str, Any]:
    """Run the rungs ``settings`` asks for on ``user`` in a clean slate of their memory, reusing
    the rungs of ``cached`` whose key still matches; returns the per-user record. ``detections``:
    the statement detector's answers (sentence → p(yes)), shared by the users of a run whose
    histories repeat turns."""
    keys = {rung: settings.rung_key(rung, model_name) for rung in settings.rungs}
    old = (cached or {}).get("rungs", {})
    record: dict[str, Any] = {"user_id": user.user_id, "rungs": {
        r: old[r] for r in settings.rungs if r in old and old[r].get("key") == keys[r]}}
    record |= {k: cached[k] for k in ("optimization", "profile_error", "profile_seconds", "persona_vector", "statements",
                                      "neighbours")
               if k in (cached or {})}
    todo = [r for r in settings.rungs if r not in record["rungs"] and _applicable(r, user)]
    if not todo:
        return record
    memory = resources.memory
    memory.forget_user(user.user_id)  # a rerun after an interruption starts from nothing
    memory.episodes.add(user.history)
    memory.knowledge.add(user.user_id, user.knowledge)
    # the check of each option against what the user stated runs (rungs whose persona keeps it), so
    # the report reads each such rung with it (as answered) and without it (its readings by order)
    context = Context(user_id=user.user_id, profile_every=10**9, option_orders=settings.option_orders,
                      check_options=True, recency_half_life_days=settings.recency_half_life_days)
    answerer = _Answerer(user, resources, context)

    def run(rung: str, ask) -> None:
        stage(rung.replace("_", " "))
        record["rungs"][rung] = {**answerer.rung(user.test, ask), "key": keys[rung]}

    if "non_personalized" in todo:
        run("non_personalized", answerer.bare)
    if "memory_only" in todo:
        run("memory_only", lambda item: answerer.agent(item, generic_persona()))
    if ({"persona", "neighbours", "oracle"} | STATED_RUNGS) & set(todo):
        stage("profile")
        began = time.monotonic()
        try:
            memory.refresh_profile(user.user_id, resources.optimizer_model_for(context), resources.retry,
                                   half_life_days=settings.recency_half_life_days)
        except ValueError as exc:  # e.g. the model wrote nothing: the persona starts without a profile
            record["profile_error"] = str(exc)
        record["profile_seconds"] = round(time.monotonic() - began, 1)
        initial = memory.current_persona(user.user_id).text
        if "persona" in todo:
            run("persona", lambda item: answerer.agent(item, initial))
        if "oracle" in todo:
            told = _with_stated(initial, user.stated_preference)
            run("oracle", lambda item: answerer.agent(item, told))
        if "neighbours" in todo:
            _seeded(record, user, memory, initial, settings.cold_start_below, keys["neighbours"], run, answerer)
    if STATED_RUNGS & set(todo):
        stage("statements")
        began = time.monotonic()
        asked = len(detections) if detections is not None else None
        found = stated_in(answerer.model, user.history, resources.retry, detections)
        memory.keep_stated(user.user_id, found)
        record["statements"] = {"found": len(found), "kept": len(statements(memory.current_persona(user.user_id).text)),
                                "seconds": round(time.monotonic() - began, 1)}
        if asked is not None:
            record["statements"]["new_sentences_asked"] = len(detections) - asked
        default = memory.current_persona(user.user_id)
        if "default" in todo and default.text == initial and "persona" in record["rungs"]:
            # nothing stated: the default persona is the persona rung's (same answers at
            # temperature 0), so those answers stand rather than spending the calls again
            record["rungs"]["default"] = {**record["rungs"]["persona"], "seconds": 0.0, "key": keys["default"],
                                          "same_as": "persona"}
        elif "default" in todo:
            run("default", lambda item: answerer.agent(item, None))
    if {"evidence", "catalogue"} & set(todo):
        body = evidence_section(user.history, half_life_days=settings.recency_half_life_days)
        with_evidence = replace_section(memory.current_persona(user.user_id).text, EVIDENCE, body) if body else None
        if "evidence" in todo:
            run("evidence", lambda item: answerer.agent(item, with_evidence))
        if "catalogue" in todo:
            reading = with_lookup(with_evidence or memory.current_persona(user.user_id).text, "knowledge", "rating")
            run("catalogue", lambda item: answerer.agent(item, reading))
    if "full" in todo:
        stage("aligning")
        began = time.monotonic()
        summary = run_optimizer(context, resources, settings.optimizer)
        record["optimization"] = {k: summary[k] for k in (*SUMMARY_KEYS, "final_version", "pool") if k in summary} | {
            "seconds": round(time.monotonic() - began, 1), "reflection_samples": len(summary.get("reflection", [])),
            "selection_samples": len(summary.get("selection", []))}
        if summary["final_version"] == default.version and "default" in record["rungs"]:
            # nothing accepted: the persona is the one the default rung used (same answers at
            # temperature 0), so those answers stand rather than spending the calls again
            record["rungs"]["full"] = {**record["rungs"]["default"], "seconds": 0.0, "key": keys["full"],
                                       "same_as": "default"}
        else:
            run("full", lambda item: answerer.agent(item, None))
    if {"persona", "default", "full"} & set(todo):
        record["persona_vector"] = _vector(memory.personas.latest(user.user_id).text)
    return record


def _seeded(record: dict, user: EvalUser, memory, initial: str, below: int, key: str, run, answerer: _Answerer) -> None:
    """The neighbours rung: ``initial`` with the borrowed section the product would add
    (``MemoryStore.refresh_profile`` with ``cold_start_below``), neighbours drawn from the user's pool."""
    similar = neighbours.nearest(memory, user.user_id, below, among=user.neighbour_pool)
    body = neighbours.borrowed_section(memory, similar)
    record["neighbours"] = {"found": len(similar), "borrowed": bool(body),
                            "similarity": [round(n.similarity, 4) for n in similar]}
    if body:
        seeded = replace_section(initial, neighbours.TITLE, body)
        run("neighbours", lambda item: answerer.agent(item, seeded))
    elif "persona" in record["rungs"]:
        # nothing borrowed: the persona rung's persona (same answers at temperature 0) stands
        record["rungs"]["neighbours"] = {**record["rungs"]["persona"], "seconds": 0.0, "key": key, "same_as": "persona"}
    else:
        run("neighbours", lambda item: answerer.agent(item, initial))


def _applicable(rung: str, user: EvalUser) -> bool:
    if rung == "full":
        return user.alignment_applicable
    if rung == "catalogue":
        return bool(user.knowledge) and any(item.scale for item in user.test)
    if rung == "oracle":
        return bool(user.stated_preference.strip())
    if rung == "neighbours":
        return bool(user.neighbour_pool)
    return True


def _with_stated(persona: str, preference: str) -> str:
    """``persona`` that also knows the preference in the dataset's words."""
    line = f'- In their own words: "{" ".join(preference.split())}"'
    body = section(persona, prompts.KNOWN)
    return replace_section(persona, prompts.KNOWN, f"{body.rstrip()}\n{line}" if body and body.strip() else line)


def _vector(text: str) -> list[float]:
    """The persona as a MiniLM vector (for the persona map): no text of it is kept."""
    from ..memory.embeddings import MiniLMEmbeddingFunction

    return [round(float(v), 4) for v in MiniLMEmbeddingFunction()([text])[0]]
