"""The ablation ladder for one user: the same model answers the same test items several ways.

non_personalized  no memory, no persona: the bare model
memory_only       the agent graph (retrieval + lookups) under a fixed generic persona
persona           the agent graph under the user's persona built from their profile
evidence          the same persona plus the evidence section computed from all of the user's history
                  (an ablation: what code-computed figures add without any optimization)
catalogue         the evidence rung's persona with lookup rules that also read the user's knowledge
                  collection (the dataset's item catalogue) on ratings: what other users' figures
                  for the item add (only users whose dataset gives them a catalogue)
oracle            the persona rung's persona with the preference as the dataset states it added to what
                  it knows of the user: a ceiling for any persona edit, not a method (only datasets
                  that state the preference, PrefEval)
full              the agent graph after test-time alignment (the optimizer) of the profile persona

Every agent-graph answer is produced with ``record=False`` and ``as_of`` = the item's time, so no
test item is written to memory or retrieved. Items with options or a rating scale are answered in
closed form (their distribution is recorded); the record of a user holds the model's answers and
timings but no ground truth, so it can be committed and the report rebuilt from the data.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from langchain_core.messages import HumanMessage, SystemMessage

from .. import prompts
from ..answers.closed_form import AnswerSpec, decode
from ..answers.position_bias import rotations
from ..context import Context
from ..persona.evidence import TITLE as EVIDENCE, evidence_section
from ..graphs.agent import build_agent_graph
from ..services.optimize import run_optimizer
from ..persona.sections import generic_persona, replace_section, section, with_lookup
from ..models.resilience import usable_reply
from ..nodes.optimizer import SUMMARY_KEYS
from ..resources import Resources
from ..persona.settings import OptimizerSettings
from .types import EvalItem, EvalUser

RUNGS = ("non_personalized", "memory_only", "persona", "evidence", "catalogue", "oracle", "full")
LADDER_VERSION = 2  # bump when a change to the code alters the answers a rung gives
OPTIMIZER_VERSION = 2  # bump when a change to the optimizer's code alters what it accepts (the full rung only)


@dataclass
class LadderSettings:
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    rungs: tuple[str, ...] = RUNGS
    # the first this many users also answer their option items under every rotation of the options,
    # from which each rung's letter prior is estimated
    calibration_users: int = 20

    def rung_key(self, rung: str, model: str, calibrate: bool) -> str:
        """What a rung's answers depend on: a cached rung with the same key is reused."""
        parts: dict[str, Any] = {"rung": rung, "model": model, "version": LADDER_VERSION, "calibrate": calibrate,
                                 "prompts": [prompts.GENERIC_ASSISTANT, prompts.GENERIC_PERSONA,
                                             prompts.INITIAL_PERSONA, prompts.PROFILE_INSTRUCTION]}
        if rung == "catalogue":
            parts["reads"] = ["knowledge", "rating"]
        if rung == "full":
            parts["optimizer"] = self.optimizer.model_dump()
            parts["optimizer_version"] = OPTIMIZER_VERSION
            parts["optimizer_prompts"] = [prompts.CRITIQUE_INSTRUCTION, prompts.EDIT_INSTRUCTION,
                                          prompts.SECTION_INSTRUCTION]
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def answer_record(item: EvalItem, answer: str, distribution: dict | None, path: str | None,
                  rating: dict | None = None) -> dict[str, Any]:
    """What is kept of one answer: for options the probabilities in the order presented, for a
    rating its distribution and point predictions, else the text."""
    record: dict[str, Any] = {"id": item.id, "path": path}
    if item.options:
        record["probs"] = [round(float((distribution or {}).get(o, 0.0)), 6) for o in item.options] \
            if distribution else []
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

    def bare(self, item: EvalItem, options: list[str] | None) -> dict[str, Any]:
        spec = AnswerSpec.of(options, item.scale)
        request = spec.render(item.query) if spec else item.query
        messages = [SystemMessage(prompts.GENERIC_ASSISTANT), HumanMessage(request)]
        if spec is None:
            reply = usable_reply(self.model, self.resources.retry).invoke(messages)
            return {"answer": reply.text, "distribution": None, "path": "generated"}
        closed, _ = decode(self.model, messages, spec, self.resources.retry)
        return {"answer": closed.answer, "distribution": closed.distribution, "path": closed.path,
                "rating": None if closed.median is None else {"median": closed.median, "mean": closed.mean}}

    def agent(self, item: EvalItem, options: list[str] | None, persona: str | None) -> dict[str, Any]:
        out = self.graph.invoke({"messages": [HumanMessage(item.query)], "persona_override": persona,
                                 "answer_options": options, "rating_scale": item.scale,
                                 "as_of": item.timestamp, "record": False}, context=self.context)
        return {"answer": out["answer"], "distribution": out.get("answer_distribution"),
                "path": out.get("answer_path"), "rating": out.get("rating")}

    def rung(self, items: list[EvalItem], ask: Callable[[EvalItem, list[str] | None], dict],
             calibrate: bool) -> dict[str, Any]:
        began = time.monotonic()
        answers, rotated = [], []
        for item in items:
            first = ask(item, item.options)
            answers.append(answer_record(item, first["answer"], first["distribution"], first["path"], first.get("rating")))
            if calibrate and item.options:
                shifts = [[(first["distribution"] or {}).get(o, 0.0) for o in item.options]]
                for order in rotations(item.options)[1:]:
                    dist = ask(item, order)["distribution"] or {}
                    shifts.append([round(float(dist.get(o, 0.0)), 6) for o in order])
                rotated.append({"id": item.id, "positions": shifts})
        out: dict[str, Any] = {"items": answers, "seconds": round(time.monotonic() - began, 1)}
        if rotated:
            out["rotations"] = rotated
        return out


def evaluate_user(user: EvalUser, resources: Resources, settings: LadderSettings, model_name: str,
                  cached: dict[str, Any] | None = None, calibrate: bool = False,
                  stage: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run the rungs ``settings`` asks for on ``user`` in a clean slate of their memory, reusing
    the rungs of ``cached`` whose key still matches; returns the per-user record. ``calibrate``:
    also answer option items under every rotation of their options."""
    keys = {rung: settings.rung_key(rung, model_name, calibrate) for rung in settings.rungs}
    old = (cached or {}).get("rungs", {})
    record: dict[str, Any] = {"user_id": user.user_id, "rungs": {
        r: old[r] for r in settings.rungs if r in old and old[r].get("key") == keys[r]}}
    record |= {k: cached[k] for k in ("optimization", "profile_error", "profile_seconds", "persona_vector")
               if k in (cached or {})}
    todo = [r for r in settings.rungs if r not in record["rungs"] and _applicable(r, user)]
    if not todo:
        return record
    memory = resources.memory
    memory.forget_user(user.user_id)  # a rerun after an interruption starts from nothing
    memory.episodes.add(user.history)
    memory.knowledge.add(user.user_id, user.knowledge)
    context = Context(user_id=user.user_id, profile_every=10**9)
    answerer = _Answerer(user, resources, context)

    def run(rung: str, ask) -> None:
        stage(rung.replace("_", " "))
        record["rungs"][rung] = {**answerer.rung(user.test, ask, calibrate), "key": keys[rung]}

    if "non_personalized" in todo:
        run("non_personalized", answerer.bare)
    if "memory_only" in todo:
        run("memory_only", lambda item, options: answerer.agent(item, options, generic_persona()))
    if {"persona", "evidence", "catalogue", "oracle", "full"} & set(todo):
        stage("profile")
        began = time.monotonic()
        try:
            memory.refresh_profile(user.user_id, resources.optimizer_model_for(context), resources.retry)
        except ValueError as exc:  # e.g. the model wrote nothing: the persona starts without a profile
            record["profile_error"] = str(exc)
        record["profile_seconds"] = round(time.monotonic() - began, 1)
        initial = memory.current_persona(user.user_id)
        if "persona" in todo:
            run("persona", lambda item, options: answerer.agent(item, options, None))
        if "oracle" in todo:
            told = _with_stated(initial.text, user.stated_preference)
            run("oracle", lambda item, options: answerer.agent(item, options, told))
    if {"evidence", "catalogue"} & set(todo):
        body = evidence_section(user.history)
        with_evidence = replace_section(memory.current_persona(user.user_id).text, EVIDENCE, body) if body else None
        if "evidence" in todo:
            run("evidence", lambda item, options: answerer.agent(item, options, with_evidence))
        if "catalogue" in todo:
            reading = with_lookup(with_evidence or memory.current_persona(user.user_id).text, "knowledge", "rating")
            run("catalogue", lambda item, options: answerer.agent(item, options, reading))
    if "full" in todo:
        stage("aligning")
        began = time.monotonic()
        summary = run_optimizer(context, resources, settings.optimizer)
        record["optimization"] = {k: summary[k] for k in (*SUMMARY_KEYS, "final_version", "pool") if k in summary} | {
            "seconds": round(time.monotonic() - began, 1), "reflection_samples": len(summary.get("reflection", [])),
            "selection_samples": len(summary.get("selection", []))}
        if summary["final_version"] == initial.version and "persona" in record["rungs"]:
            # nothing accepted: the persona is the one the persona rung used (same answers at
            # temperature 0), so those answers stand rather than spending the calls again
            record["rungs"]["full"] = {**record["rungs"]["persona"], "seconds": 0.0, "key": keys["full"],
                                       "same_as": "persona"}
        else:
            run("full", lambda item, options: answerer.agent(item, options, None))
    if {"persona", "full"} & set(todo):
        record["persona_vector"] = _vector(memory.personas.latest(user.user_id).text)
    return record


def _applicable(rung: str, user: EvalUser) -> bool:
    if rung == "full":
        return user.alignment_applicable
    if rung == "catalogue":
        return bool(user.knowledge) and any(item.scale for item in user.test)
    if rung == "oracle":
        return bool(user.stated_preference.strip())
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
