"""The ablation ladder for one user: the same model answers the same test items four ways.

non_personalized  no memory, no persona: the bare model
memory_only       the agent graph (retrieval + tools) under a fixed generic persona
persona           the agent graph under the user's persona built from their profile
full              the same after test-time alignment (the optimizer) on the user's history

Every agent-graph answer is produced with ``record=False`` and ``as_of`` = the item's time, so no
test item is written to memory or retrieved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from langchain_core.messages import HumanMessage, SystemMessage

from .. import prompts
from ..context import Context
from ..graphs.agent import build_agent_graph
from ..metrics import Score, build_metric
from ..optimize import run_optimizer
from ..resources import Resources
from .types import EvalItem, EvalUser

RUNGS = ("non_personalized", "memory_only", "persona", "full")


@dataclass
class LadderSettings:
    batch_size: int = 3
    holdout_size: int = 2
    max_iters: int = 2
    rungs: tuple[str, ...] = RUNGS


def _scored(item: EvalItem, answer: str, metric) -> dict[str, Any]:
    score = metric({"query": item.query, "ground_truth": item.ground_truth}, answer)
    if not isinstance(score, Score):
        score = Score(*score)
    return {"id": item.id, "answer": answer, "ground_truth": item.ground_truth, "loss": score.loss,
            "feedback": score.feedback}


def evaluate_user(user: EvalUser, resources: Resources, settings: LadderSettings,
                  stage: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run every rung for ``user`` in a clean slate of their memory; returns the per-user record."""
    memory = resources.memory
    memory.forget_user(user.user_id)  # a rerun after an interruption starts from nothing
    memory.episodes.add(user.history)
    context = Context(user_id=user.user_id, profile_every=10**9)
    model = resources.agent_model_for(context)
    metric = build_metric(user.metric, lambda: resources.optimizer_model_for(context))
    graph = build_agent_graph(resources).compile()

    def agent_answer(item: EvalItem, persona: str | None) -> str:
        out = graph.invoke({"messages": [HumanMessage(item.query)], "persona_override": persona,
                            "as_of": item.timestamp, "record": False}, context=context)
        return out["answer"]

    record: dict[str, Any] = {
        "user_id": user.user_id, "attribute": user.attribute, "metric": user.metric, "extra": user.extra,
        "alignment_applicable": user.alignment_applicable, "rungs": {},
        "test_items": [{"id": i.id, "ground_truth": i.ground_truth, **i.attributes} for i in user.test],
    }
    if "non_personalized" in settings.rungs:
        stage("non-personalized")
        record["rungs"]["non_personalized"] = [
            _scored(item, model.invoke([SystemMessage(prompts.GENERIC_ASSISTANT), HumanMessage(item.query)]).text,
                    metric) for item in user.test]
    if "memory_only" in settings.rungs:
        stage("memory only")
        record["rungs"]["memory_only"] = [_scored(i, agent_answer(i, prompts.GENERIC_PERSONA), metric) for i in user.test]
    if {"persona", "full"} & set(settings.rungs):
        stage("profile")
        try:
            memory.refresh_profile(user.user_id, resources.optimizer_model_for(context))
        except ValueError as exc:  # e.g. the model wrote nothing: the persona starts without a profile
            record["profile_error"] = str(exc)
        initial = memory.current_persona(user.user_id)
        record["persona"] = initial.text
        stage("persona")
        record["rungs"]["persona"] = [_scored(i, agent_answer(i, None), metric) for i in user.test]
    if "full" in settings.rungs and user.alignment_applicable:
        stage("aligning")
        summary = run_optimizer(context, resources, {
            "batch_size": settings.batch_size, "holdout_size": settings.holdout_size,
            "max_iters": settings.max_iters, "metric": user.metric})
        record["optimization"] = summary
        record["loss_curve"] = [p["loss"] for p in summary["loss_curve"]]
        if summary["final_version"] == initial.version:
            # nothing accepted: the persona is the one the persona rung used (same answers at
            # temperature 0), so those answers stand rather than spending the calls again
            record["rungs"]["full"] = record["rungs"]["persona"]
        else:
            stage("full")
            record["persona"] = memory.personas.latest(user.user_id).text
            record["rungs"]["full"] = [_scored(i, agent_answer(i, None), metric) for i in user.test]
    return record
