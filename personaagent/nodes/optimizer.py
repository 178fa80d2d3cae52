"""Nodes of the optimizer graph: load_batch → simulate (fan-out) → compare → select ⇄ critique →
rewrite → simulate … → finish. Each is a small function of (state, ctx, resources); the edit operators
live in ``operators`` and the acceptance rule in ``selection``."""

from __future__ import annotations

import difflib
from functools import partial
from statistics import fmean
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableLambda
from langgraph.types import Send

from ..persona import operators, selection
from .. import prompts
from ..answers.closed_form import AnswerSpec
from ..context import Context
from ..errors import PersonaAgentError, PersonaConflict
from ..state import OptimizerState, SimulationState
from ..ids import validate_user_id
from ..persona.losses import Score, build_metric, choose_metric
from ..persona.sections import available_lookups
from ..prompts import quote
from ..models.resilience import usable_reply
from ..resources import Resources
from ..persona.settings import OptimizerSettings
from .reason import usage_tokens

MISS = 0.05  # a sample whose loss is below this is not shown to the critique as a miss
MAX_MISSES = 5
MAX_CRITIQUE_CHARS = 1500
SUMMARY_KEYS = ("initial_loss", "best_loss", "loss_curve", "accepted", "rejected", "model_calls", "tokens",
                "stop_reason", "metric")


def settings_of(state: OptimizerState) -> OptimizerSettings:
    """The run's settings, read from their channels (``state.OptimizerSettingsChannels``); a
    setting the caller left out takes its default."""
    return OptimizerSettings.of({name: state.get(name) for name in OptimizerSettings.model_fields})


def load_batch(state: OptimizerState, ctx: Context, resources: Resources) -> dict:
    """The user's latest N labelled interactions (the batch, for reflection) and the V before them
    (the validation window: selection judges on both). Every setting is written back to its
    channel, defaults filled in and the ``metric`` "auto" resolved (``losses.choose_metric``)."""
    settings = settings_of(state)
    user = validate_user_id(ctx.user_id)
    memory = resources.memory_for(ctx)
    labelled = memory.episodes.list(user, labelled=True)
    if not labelled:
        raise PersonaAgentError(f"user {user!r} has no labelled interactions (with a ground truth) to optimize on")
    n, v = settings.batch_size, settings.validation_size
    batch, validation = labelled[-n:], labelled[-n - v: -n] if v else []
    samples = [
        {"id": i.id, "query": i.query, "ground_truth": i.ground_truth, "timestamp": i.timestamp, "split": split,
         "options": i.options, "scale": i.scale}
        for split, items in (("batch", batch), ("validation", validation)) for i in items
    ]
    persona = memory.current_persona(user)
    run_id = memory.runs.start(user, trigger=settings.trigger)
    return {**settings.model_dump(), "metric": choose_metric(settings.metric, samples),
            "run_id": run_id, "samples": samples,
            "window_start": min(s["timestamp"] for s in samples), "older": len(labelled) - len(samples),
            "base_version": persona.version,
            "best_persona": persona.text, "round": 0,
            "accepted": 0, "rejected": 0, "stale": 0, "loss_curve": [], "proposals": [], "pool": [],
            "reflection": [s["id"] for s in samples if s["split"] == "batch"], "selection": [s["id"] for s in samples]}


def fan_out(state: OptimizerState) -> list[Send]:
    """One simulation per sample and persona of this round (the current persona in the baseline,
    then each candidate), each seeing only memories older than its sample."""
    personas = [state["best_persona"]] if state["round"] == 0 else [c["persona"] for c in state["proposals"]]
    first = 0 if state["round"] == 0 else 1
    return [
        Send("simulate", {
            "messages": [HumanMessage(sample["query"])], "persona_override": persona,
            "as_of": sample["timestamp"], "record": False,
            "answer_options": sample.get("options"), "rating_scale": sample.get("scale"),
            "sample": {**sample, "round": state["round"], "candidate": index},
        })
        for index, persona in enumerate(personas, first) for sample in state["samples"]
    ]


def record_simulation(state: SimulationState) -> dict:
    """Inside the simulate subgraph, after the agent: keep what the optimizer needs."""
    tool_outputs = [m.text for m in state.get("messages", []) if m.type == "tool"]
    return {"simulations": [{**state["sample"], "answer": state.get("answer", ""), "calls": state.get("model_calls", 0),
                             "distribution": state.get("answer_distribution"), "path": state.get("answer_path"),
                             "retrieved": state.get("retrieved", []), "tool_outputs": tool_outputs}]}


def _signed_error(sim: dict) -> float | None:
    if not (sim.get("scale") and sim.get("distribution")):
        return None
    return sum(float(k) * p for k, p in sim["distribution"].items()) - float(sim["ground_truth"])


def compare(state: OptimizerState, ctx: Context, resources: Resources) -> dict:
    """A numeric and a textual loss for each simulation of this round, per persona."""
    metric = resources.metric or build_metric(state["metric"], lambda: resources.optimizer_model_for(ctx), resources.retry)
    sims = sorted((s for s in state["simulations"] if s["round"] == state["round"]), key=lambda s: (s["candidate"], s["id"]))
    scores: dict[str, list[dict]] = {}
    calls = 0
    for sim in sims:
        score = metric(sim, sim["answer"])
        if not isinstance(score, Score):
            loss, feedback = score
            score = Score(float(loss), str(feedback))
        calls += score.model_calls
        scores.setdefault(str(sim["candidate"]), []).append({
            "id": sim["id"], "split": sim["split"], "query": sim["query"], "options": sim.get("options"),
            "answer": sim["answer"], "ground_truth": sim["ground_truth"], "loss": score.loss,
            "feedback": score.feedback, "signed_error": _signed_error(sim),
            "retrieved": [r["query"] for r in sim.get("retrieved", [])[:2]]})
    return {"scores": scores, "model_calls": calls}


def _losses(scores: list[dict]) -> dict[str, float | None]:
    by_split = {split: [s["loss"] for s in scores if s["split"] == split] for split in ("batch", "validation")}
    return {"loss": fmean(s["loss"] for s in scores) if scores else None,
            "batch_loss": fmean(by_split["batch"]) if by_split["batch"] else None,
            "validation_loss": fmean(by_split["validation"]) if by_split["validation"] else None}


def change_size(old: str, new: str) -> int:
    """Characters inserted plus characters deleted to turn ``old`` into ``new``."""
    ops = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    return sum((i2 - i1) + (j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal")


def _stop_reason(state: OptimizerState, settings: OptimizerSettings, best: list[dict], stale: int) -> str:
    if all(s["loss"] <= selection.TIE for s in best):
        return "no_failures"
    if state["round"] >= settings.max_iters:
        return "max_iters"
    if stale >= settings.patience:
        return "plateau"
    next_cost = settings.candidates * len(state["samples"]) + 3  # simulations, critique, two proposals
    if settings.max_calls is not None and state.get("model_calls", 0) + next_cost > settings.max_calls:
        return "budget"
    return ""


def iteration_name(round_: int) -> str:
    """How a round shows in traces (LangSmith): the baseline, then one named run per iteration."""
    return "optimizer baseline" if round_ == 0 else f"optimizer iteration {round_}"


def select(state: OptimizerState, ctx: Context, resources: Resources) -> dict:
    """The round's verdict, traced as a run named after the iteration (see ``iteration_name``)."""
    verdict = RunnableLambda(partial(_select, ctx=ctx, resources=resources), name=iteration_name(state["round"]))
    return verdict.invoke(state)


def _select(state: OptimizerState, ctx: Context, resources: Resources) -> dict:
    """Keep-best over the pool: the current persona, and this round's candidates judged on the
    same samples (``selection.paired``); the best one that passes replaces the persona."""
    settings, round_ = settings_of(state), state["round"]
    if round_ == 0:
        best = state["scores"]["0"]
        point = {"iteration": 0, **_losses(best), "outcome": "baseline"}
        update = {"initial_loss": point["loss"], "best_loss": point["loss"], "best_scores": best, "stale": 0}
        return update | {"loss_curve": [point], "stop_reason": _stop_reason(state, settings, best, 0)}
    current = {s["id"]: s["loss"] for s in state["best_scores"]}
    splits = {s["id"]: s["split"] for s in state["samples"]}
    results = []
    for index, candidate in enumerate(state["proposals"], 1):
        scores = state["scores"].get(str(index), [])
        result = selection.paired(current, {s["id"]: s["loss"] for s in scores}, splits, settings.margin)
        results.append(result | {"iteration": round_, "operator": candidate["operator"], "note": candidate["note"],
                                 "loss": _losses(scores)["loss"], "chars": len(candidate["persona"]),
                                 "change": change_size(state["best_persona"], candidate["persona"]), "accepted": False})
    chosen = selection.best(results)
    update: dict[str, Any] = {}
    point: dict[str, Any] = {"iteration": round_, "candidates": len(results)}
    if chosen is None:
        best, stale = state["best_scores"], state["stale"] + 1
        point |= _losses(best) | {"outcome": "rejected" if results else "no candidate"}
        update["rejected"] = state["rejected"] + len(results)
    else:
        candidate, best = state["proposals"][chosen], state["scores"][str(chosen + 1)]
        try:
            version = resources.memory_for(ctx).save_optimized_persona(
                ctx.user_id, candidate["persona"], state["base_version"],
                loss=_losses(best)["loss"], critique=state.get("critique") or "", run_marker=f"{state['run_id']}:{round_}",
                operator=candidate["operator"])
        except PersonaConflict:  # another writer (optimization, rollback) got there first: stop, store nothing
            point |= _losses(state["best_scores"]) | {"outcome": "conflict"}
            return {"loss_curve": state["loss_curve"] + [point], "pool": state["pool"] + results,
                    "stop_reason": "conflict", "rejected": state["rejected"] + len(results)}
        results[chosen]["accepted"] = True
        stale = 0
        point |= _losses(best) | {"outcome": "accepted", "operator": candidate["operator"], "version": version.version,
                                  "change": results[chosen]["change"]}
        update |= {"best_loss": point["loss"], "best_scores": best, "best_persona": candidate["persona"],
                   "base_version": version.version, "accepted": state["accepted"] + 1,
                   "rejected": state["rejected"] + len(results) - 1}
    stop = _stop_reason(state, settings, best, stale)
    return update | {"stale": stale, "loss_curve": state["loss_curve"] + [point], "pool": state["pool"] + results,
                     "stop_reason": stop}


def route_after_select(state: OptimizerState) -> str:
    return "finish" if state["stop_reason"] else "critique"


def misses(state: OptimizerState) -> list[dict]:
    """The batch samples the current persona answered worst (the critique never sees validation)."""
    order = {s["id"]: n for n, s in enumerate(state["samples"])}
    batch = [s for s in state["best_scores"] if s["split"] == "batch" and s["loss"] >= MISS]
    return sorted(batch, key=lambda s: (-s["loss"], order[s["id"]]))[:MAX_MISSES]


def _describe_miss(n: int, s: dict) -> str:
    options = f"\n   Options: {'; '.join(quote(o)[:80] for o in s['options'])}" if s.get("options") else ""
    seen = "; ".join(quote(r)[:100] for r in s.get("retrieved", [])) or "nothing similar"
    return (f"{n}. Request: {quote(s['query'])[:300]}{options}\n   Assistant and user: {s['feedback']}\n"
            f"   From the history it saw: {seen}")


def critique(state: OptimizerState, ctx: Context, resources: Resources) -> dict:
    """One textual gradient from the batch's misses, worst first: lessons about the user, without
    the persona (the edit operators apply them to it). No model call when there is no miss, or
    when this iteration's first operators are code operators, which do not read it, and have older
    interactions to work from."""
    shown = misses(state)
    settings = settings_of(state)
    drawn = settings.operators_for(state["round"] + 1)[:settings.candidates]
    if not shown or (state.get("older") and not set(drawn) & operators.MODEL_OPERATORS):
        return {"critique": ""}
    reply = usable_reply(resources.optimizer_model_for(ctx), resources.retry).invoke([
        SystemMessage(prompts.CRITIQUE_INSTRUCTION),
        HumanMessage(prompts.CRITIQUE_INPUT.format(misses="\n".join(_describe_miss(n, s) for n, s in enumerate(shown, 1)))),
    ], config={"run_name": f"critique for {iteration_name(state['round'] + 1)}"})
    return {"critique": reply.text.strip()[:MAX_CRITIQUE_CHARS], "model_calls": 1, "tokens": usage_tokens(reply)}


def rewrite(state: OptimizerState, ctx: Context, resources: Resources) -> dict:
    """The rewrite: this iteration's candidate personas, each from one edit operator
    (``operators.propose``)."""
    settings, round_ = settings_of(state), state["round"] + 1
    user = ctx.user_id
    memory = resources.memory_for(ctx)
    batch = [s for s in state["best_scores"] if s["split"] == "batch"]
    signed = [s["signed_error"] for s in batch if s.get("signed_error") is not None]
    proposal = operators.Proposal(
        persona=state["best_persona"], critique=state.get("critique") or "", misses=misses(state),
        history=memory.episodes.list(user, before=state["window_start"], labelled=True),
        similar=lambda text, k: memory.episodes.search(user, text, k=k, before=state["window_start"],
                                                       half_life_days=ctx.recency_half_life_days),
        model=resources.optimizer_model_for(ctx), retry=resources.retry, max_chars=settings.max_persona_chars,
        max_examples=settings.max_examples, signed_error=fmean(signed) if signed else None,
        half_life_days=ctx.recency_half_life_days,
        kind=_kind(state["samples"]), readable=_readable(memory, user) if "lookups" in settings.operators else ())
    found, calls, tokens = operators.propose(proposal, settings.operators_for(round_), settings.candidates,
                                             run_name=f"rewrite for {iteration_name(round_)}")
    return {"proposals": [{"operator": c.operator, "persona": c.persona, "note": c.note} for c in found],
            "round": round_, "model_calls": calls, "tokens": tokens}


def _kind(samples: list[dict]) -> str:
    """The kind of request most of the batch is (ties: the latest sample's)."""
    specs = [AnswerSpec.of(s.get("options"), s.get("scale")) for s in samples if s["split"] == "batch"]
    kinds = [spec.kind if spec else "open" for spec in specs]
    return max(reversed(kinds), key=kinds.count) if kinds else "open"


def _readable(memory, user: str) -> tuple[str, ...]:
    """The lookups a simulation can make that hold something for ``user``: the knowledge collection
    when it has items, the web when reachable (simulations never see the profile: it summarises
    later interactions too)."""
    return tuple(name for name in available_lookups()
                 if name == "web" or (name == "knowledge" and memory.knowledge.count(user) > 0))


def route_after_rewrite(state: OptimizerState):
    return fan_out(state) if state["proposals"] else "select"


def finish(state: OptimizerState, ctx: Context, resources: Resources) -> dict:
    """Close the run in the run log with its summary."""
    summary = {k: state.get(k) for k in SUMMARY_KEYS} | {"final_version": state["base_version"]}
    resources.memory_for(ctx).runs.finish(state["run_id"], "finished", summary)
    return {"final_version": state["base_version"]}
