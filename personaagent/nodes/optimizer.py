"""Nodes of the optimizer graph: load_batch → simulate (fan-out) → compare → decide ⇄ critique →
rewrite → simulate … → finish. Each is a small function of (state, runtime)."""

from __future__ import annotations

from functools import partial
from statistics import fmean
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableLambda
from langgraph.runtime import Runtime
from langgraph.types import Send

from .. import prompts
from ..context import Context
from ..errors import PersonaAgentError, PersonaConflict
from ..graphs.state import OptimizerState, SimulationState
from ..ids import validate_user_id
from ..metrics import Score, build_metric, choose_metric
from ..persona import LOOKUPS, remove_section, section
from ..resources import Resources
from .reason import usage_tokens

DEFAULTS: dict[str, Any] = {
    "batch_size": 3, "holdout_size": 2, "max_iters": 3, "patience": 2, "min_delta": 0.01,
    "max_calls": None, "metric": "auto", "max_persona_chars": 2400,
}
MAX_FAILURES_SHOWN = 5
MAX_CRITIQUE_CHARS = 1500


def setting(state: OptimizerState, key: str) -> Any:
    value = state.get(key)
    return DEFAULTS[key] if value is None else value


def load_batch(state: OptimizerState, runtime: Runtime[Context], *, resources: Resources) -> dict:
    """The user's latest N labelled interactions (the batch) and the H before them (held out)."""
    user = validate_user_id(Context.of(runtime.context).user_id)
    memory = resources.memory_for(runtime.context)
    n, h = setting(state, "batch_size"), setting(state, "holdout_size")
    if n < 1 or h < 0:
        raise PersonaAgentError(f"batch_size must be ≥ 1 and holdout_size ≥ 0 (got {n}, {h})")
    labelled = memory.episodes.list(user, labelled=True)
    if not labelled:
        raise PersonaAgentError(f"user {user!r} has no labelled interactions (with a ground truth) to optimize on")
    batch = labelled[-n:]
    holdout = labelled[-n - h : -n] if h else []
    samples = [
        {"id": i.id, "query": i.query, "ground_truth": i.ground_truth, "timestamp": i.timestamp, "split": split,
         "options": i.options, "scale": i.scale}
        for split, items in (("batch", batch), ("holdout", holdout)) for i in items
    ]
    persona = memory.current_persona(user)
    metric = choose_metric(setting(state, "metric"), samples)
    run_id = memory.runs.start(user, trigger=state.get("trigger") or "manual")
    return {"run_id": run_id, "samples": samples, "base_version": persona.version, "best_persona": persona.text, "round": 0,
            "metric": metric, "accepted": 0, "rejected": 0, "stale": 0, "loss_curve": [],
            "rejected_candidates": [], "candidate": None}


def fan_out(state: OptimizerState) -> list[Send]:
    """One simulation per sample, under this round's persona, seeing only memories older than it."""
    persona = state["best_persona"] if state["round"] == 0 else state["candidate"]
    return [
        Send("simulate", {
            "messages": [HumanMessage(sample["query"])], "persona_override": persona,
            "as_of": sample["timestamp"], "record": False, "sample": {**sample, "round": state["round"]},
            "answer_options": sample.get("options"), "rating_scale": sample.get("scale"),
        })
        for sample in state["samples"]
    ]


def record_simulation(state: SimulationState) -> dict:
    """Inside the simulate subgraph, after the agent: keep what the optimizer needs."""
    tool_outputs = [m.text for m in state.get("messages", []) if m.type == "tool"]
    return {"simulations": [{**state["sample"], "answer": state.get("answer", ""), "calls": state.get("model_calls", 0),
                             "distribution": state.get("answer_distribution"), "path": state.get("answer_path"),
                             "retrieved": state.get("retrieved", []), "tool_outputs": tool_outputs}]}


def compare(state: OptimizerState, runtime: Runtime[Context], *, resources: Resources) -> dict:
    """A numeric and a textual loss for each simulation of the current round."""
    metric = resources.metric or build_metric(state["metric"], lambda: resources.optimizer_model_for(runtime.context),
                                              resources.retry)
    sims = sorted((s for s in state["simulations"] if s["round"] == state["round"]), key=lambda s: s["id"])
    scores, calls = [], 0
    for sim in sims:
        score = metric(sim, sim["answer"])
        if not isinstance(score, Score):
            loss, feedback = score
            score = Score(float(loss), str(feedback))
        calls += score.model_calls
        scores.append({"id": sim["id"], "split": sim["split"], "query": sim["query"], "answer": sim["answer"],
                       "ground_truth": sim["ground_truth"], "loss": score.loss, "feedback": score.feedback})
    return {"scores": scores, "model_calls": calls}


def _losses(scores: list[dict]) -> dict[str, float | None]:
    by_split = {split: [s["loss"] for s in scores if s["split"] == split] for split in ("batch", "holdout")}
    return {
        "loss": fmean(s["loss"] for s in scores) if scores else None,
        "batch_loss": fmean(by_split["batch"]) if by_split["batch"] else None,
        "holdout_loss": fmean(by_split["holdout"]) if by_split["holdout"] else None,
    }


def _stop_reason(state: OptimizerState, best_loss: float, stale: int, spent: int, round_calls: int) -> str:
    budget = setting(state, "max_calls")
    if best_loss <= 0:
        return "no_failures"
    if state["round"] >= setting(state, "max_iters"):
        return "max_iters"
    if stale >= setting(state, "patience"):
        return "plateau"
    if budget is not None and spent + round_calls + 2 > budget:  # the next iteration would overrun
        return "budget"
    return ""


def _improves(state: OptimizerState, loss: float | None) -> bool:
    """A real candidate whose loss beats the best by at least ``min_delta``."""
    return bool(state.get("candidate")) and loss is not None and state["best_loss"] - loss >= setting(state, "min_delta")


def iteration_name(round_: int) -> str:
    """How a round shows in traces (LangSmith): the baseline, then one named run per iteration."""
    return "optimizer baseline" if round_ == 0 else f"optimizer iteration {round_}"


def decide(state: OptimizerState, runtime: Runtime[Context], *, resources: Resources) -> dict:
    """The round's verdict, traced as a run named after the iteration (see ``iteration_name``)."""
    verdict = RunnableLambda(partial(_decide, runtime=runtime, resources=resources), name=iteration_name(state["round"]))
    return verdict.invoke(state)


def _decide(state: OptimizerState, runtime: Runtime[Context], resources: Resources) -> dict:
    """Keep-best: the baseline sets the bar; a candidate replaces the persona only if it lowers
    the loss by at least ``min_delta``. Then: stop (and why), or go on."""
    round_, scores = state["round"], state["scores"]
    losses = _losses(scores)
    update: dict[str, Any] = {}
    point = {"iteration": round_, **losses}
    if round_ == 0:
        best_loss, stale = losses["loss"], 0
        update |= {"initial_loss": best_loss, "best_loss": best_loss, "best_scores": scores}
        point["outcome"] = "baseline"
    elif _improves(state, losses["loss"]):
        try:
            version = resources.memory_for(runtime.context).save_optimized_persona(
                Context.of(runtime.context).user_id, state["candidate"], state["base_version"], loss=losses["loss"],
                critique=state.get("critique") or "", run_marker=f"{state['run_id']}:{round_}",
            )
        except PersonaConflict:  # another writer (optimization, rollback) got there first: stop, store nothing
            point["outcome"] = "conflict"
            return {"loss_curve": state["loss_curve"] + [point], "stop_reason": "conflict",
                    "rejected": state["rejected"] + 1}
        best_loss, stale = losses["loss"], 0
        update |= {"best_loss": best_loss, "best_scores": scores, "best_persona": state["candidate"],
                   "base_version": version.version, "accepted": state["accepted"] + 1}
        point |= {"outcome": "accepted", "version": version.version}
    else:
        best_loss, stale = state["best_loss"], state["stale"] + 1
        update["rejected"] = state["rejected"] + 1
        update["rejected_candidates"] = state["rejected_candidates"] + [{
            "iteration": round_, "loss": losses["loss"], "critique": state.get("critique"),
            "persona": (state.get("candidate") or "")[:400],
        }]
        point["outcome"] = "rejected" if state.get("candidate") else f"rejected ({state.get('candidate_issue')})"
    round_calls = sum(s["calls"] for s in state["simulations"] if s["round"] == round_)
    stop = _stop_reason(state, best_loss, stale, state.get("model_calls", 0), round_calls)
    return update | {"stale": stale, "loss_curve": state["loss_curve"] + [point], "stop_reason": stop}


def route_after_decide(state: OptimizerState) -> str:
    return "finish" if state["stop_reason"] else "critique"


def _failures(scores: list[dict]) -> str:
    worst = sorted((s for s in scores if s["loss"] > 0), key=lambda s: -s["loss"])[:MAX_FAILURES_SHOWN]
    return "\n".join(
        f'{n}. request: {s["query"]}\n   assistant answered: {s["answer"][:300]}\n'
        f'   the user wanted: {s["ground_truth"]}\n   difference: {s["feedback"]}'
        for n, s in enumerate(worst, 1)
    )


def critique(state: OptimizerState, runtime: Runtime[Context], *, resources: Resources) -> dict:
    """One aggregated textual gradient for the whole batch (held-out samples are not shown)."""
    batch_scores = [s for s in state["best_scores"] if s["split"] == "batch"]
    reply = resources.optimizer_model_for(runtime.context).invoke([
        SystemMessage(prompts.CRITIQUE_INSTRUCTION),
        HumanMessage(prompts.CRITIQUE_INPUT.format(persona=state["best_persona"], failures=_failures(batch_scores)
                                                   or "(no misses in the batch)")),
    ], config={"run_name": f"critique for {iteration_name(state['round'] + 1)}"})
    return {"critique": reply.text.strip()[:MAX_CRITIQUE_CHARS], "model_calls": 1, "tokens": usage_tokens(reply)}


def persona_body(persona: str) -> str:
    """The user-specific part of a persona: everything but its lookup rules (its tool-use rules)."""
    return remove_section(persona, LOOKUPS)


def lookup_rules_text(persona: str) -> str:
    """The persona's lookup-rules section as written (empty when it has none)."""
    body = section(persona, LOOKUPS)
    return "" if body is None else f"## {LOOKUPS}\n{body}"


def bounded_persona(body: str, max_chars: int, rules: str = "") -> str:
    """``body`` + ``rules`` (the lookup rules), trimmed at a line boundary to stay within ``max_chars``."""
    room = max_chars - len(rules) - 2
    lines, kept = body.strip().splitlines(), []
    for line in lines:
        if sum(len(k) + 1 for k in kept) + len(line) > room:
            break
        kept.append(line)
    text = "\n".join(kept).strip()
    if not text:
        return ""
    return f"{text}\n\n{rules}" if rules else text


def rewrite(state: OptimizerState, runtime: Runtime[Context], *, resources: Resources) -> dict:
    """A new candidate persona from the critique. PersonaAgent's lookup rules, when the persona
    has them, are kept verbatim; a persona of another agent (``optimize_persona``) is rewritten whole."""
    max_chars = setting(state, "max_persona_chars")
    rules = lookup_rules_text(state["best_persona"])
    reply = resources.optimizer_model_for(runtime.context).invoke([
        SystemMessage(prompts.REWRITE_INSTRUCTION.format(max_chars=max_chars - len(rules))),
        HumanMessage(prompts.REWRITE_INPUT.format(body=persona_body(state["best_persona"]), critique=state["critique"])),
    ], config={"run_name": f"rewrite for {iteration_name(state['round'] + 1)}"})
    body = reply.text.strip().removeprefix("<persona>").removesuffix("</persona>")
    candidate, issue = bounded_persona(body, max_chars, rules) or None, None
    if reply.response_metadata.get("finish_reason") == "length":  # cut off by the token limit
        candidate, issue = None, "truncated rewrite"
    elif candidate is None:
        issue = "empty rewrite"
    return {"candidate": candidate, "candidate_issue": issue, "round": state["round"] + 1,
            "model_calls": 1, "tokens": usage_tokens(reply)}


def route_after_rewrite(state: OptimizerState):
    return fan_out(state) if state.get("candidate") else "compare"


SUMMARY_KEYS = ("initial_loss", "best_loss", "loss_curve", "accepted", "rejected", "model_calls", "tokens",
                "stop_reason", "metric")


def finish(state: OptimizerState, runtime: Runtime[Context], *, resources: Resources) -> dict:
    """Close the run in the run log with its summary."""
    summary = {k: state.get(k) for k in SUMMARY_KEYS} | {"final_version": state["base_version"]}
    resources.memory_for(runtime.context).runs.finish(state["run_id"], "finished", summary)
    return {"final_version": state["base_version"]}
