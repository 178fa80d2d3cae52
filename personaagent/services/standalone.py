"""The optimizer on its own: align a persona (a system prompt) for an agent of your own.

You bring the persona, labelled interactions (what was asked and what the user really wanted),
your agent as a function of ``(persona, query)`` and a metric hook returning ``(score,
feedback)``; the optimizer graph simulates, critiques and rewrites as it does for PersonaAgent's
own agent, and keeps the best persona::

    result = optimize_persona(
        "You are a helpful travel assistant.",
        [{"query": "Beach or museum?", "ground_truth": "museum"}, ...],
        agent=lambda persona, query: my_chain.invoke({"system": persona, "input": query}),
        metric=lambda sample, answer: (1.0 if sample["ground_truth"] in answer else 0.0, "..."),
        model=ChatOpenAI(model="gpt-4o-mini"),
    )
    result.persona, result.summary["loss_curve"]

The run is kept in a throw-away in-memory store; nothing is written to PersonaAgent's memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable

import chromadb
from chromadb.api.types import EmbeddingFunction
from chromadb.config import Settings
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from ..context import Context
from ..errors import PersonaAgentError
from ..graphs.optimizer import build_optimizer_graph
from ..memory.episodic import Interaction
from ..memory.store import MemoryStore
from ..persona.losses import Score
from ..resources import Resources
from ..persona.settings import OptimizerSettings

Agent = Callable[[str, str], Any] | Runnable
FeedbackMetric = Callable[[dict[str, Any], str], tuple[float, str]]


@dataclass
class OptimizedPersona:
    persona: str  # the best persona found (the given one when no candidate beat it)
    improved: bool
    summary: dict[str, Any]  # the optimizer's output: loss curve, accepted/rejected, calls, stop reason


def _answer_text(reply: Any) -> str:
    text = getattr(reply, "text", reply)
    return text if isinstance(text, str) else str(text)


def agent_step(agent: Agent) -> Callable[[dict[str, Any]], dict]:
    """The optimizer's ``simulate`` step around a user's agent: the agent re-answers one sample
    under the round's persona. A Runnable is invoked with ``{"persona": ..., "query": ...}``."""
    call = (lambda persona, query: agent.invoke({"persona": persona, "query": query})) \
        if isinstance(agent, Runnable) else agent

    def simulate(payload: dict[str, Any]) -> dict:
        sample = payload["sample"]
        answer = _answer_text(call(payload["persona_override"], sample["query"]))
        return {"simulations": [{**sample, "answer": answer, "calls": 1, "retrieved": [], "tool_outputs": []}]}

    return simulate


def score_metric(metric: FeedbackMetric) -> Callable[[dict[str, Any], str], Score]:
    """A ``(score, feedback)`` hook (score in [0, 1], 1 = what the user wanted) as the optimizer's
    loss: ``1 − score``, with the feedback as the textual loss the critique reads."""

    def loss(sample: dict[str, Any], answer: str) -> Score:
        result = metric(sample, answer)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise PersonaAgentError(f"the metric must return (score, feedback); it returned {result!r}")
        score, feedback = result
        if not 0.0 <= float(score) <= 1.0:
            raise PersonaAgentError(f"the metric's score must lie in [0, 1]; it returned {score!r}")
        return Score(1.0 - float(score), str(feedback))

    return loss


def _interactions(user_id: str, items: Sequence[Interaction | Mapping[str, Any]]) -> list[Interaction]:
    out = []
    for n, item in enumerate(items, 1):
        data = item.to_dict() if isinstance(item, Interaction) else dict(item)
        missing = [k for k in ("query", "ground_truth") if not str(data.get(k) or "").strip()]
        if missing:
            raise PersonaAgentError(f"interaction {n} has no {' and no '.join(missing)}")
        out.append(Interaction(user_id=user_id, query=str(data["query"]), ground_truth=str(data["ground_truth"]),
                               timestamp=float(data.get("timestamp") or n), source="ingest"))
    return out


def optimize_persona(
    persona: str,
    interactions: Sequence[Interaction | Mapping[str, Any]],
    agent: Agent,
    metric: FeedbackMetric,
    model: BaseChatModel,
    *,
    settings: OptimizerSettings | dict[str, Any] | None = None,
    embedder: EmbeddingFunction | None = None,
) -> OptimizedPersona:
    """Optimize ``persona`` for ``agent`` on ``interactions`` (oldest first). ``settings``: the
    optimizer's (``OptimizerSettings`` or a mapping of its fields; by default the latest
    ``batch_size`` interactions are critiqued and the ``validation_size`` before them join the
    judging). ``model`` writes the critiques and edits."""
    settings = OptimizerSettings.of(settings)
    if not persona.strip():
        raise PersonaAgentError("the persona to optimize is empty")
    if not interactions:
        raise PersonaAgentError("optimize_persona needs at least one labelled interaction")
    user_id = f"standalone-{uuid.uuid4().hex[:12]}"
    client = chromadb.EphemeralClient(settings=Settings(anonymized_telemetry=False))
    memory = MemoryStore(client, embedder)
    try:
        memory.episodes.add(_interactions(user_id, interactions))
        memory.personas.save(user_id, persona, source="given")
        resources = Resources(memory=memory, optimizer_model=model, metric=score_metric(metric))
        graph = build_optimizer_graph(resources, simulate=agent_step(agent)).compile()
        out = graph.invoke(settings, context=Context(user_id=user_id))
        best = memory.personas.latest(user_id)
        return OptimizedPersona(persona=best.text, improved=best.version > 1, summary=dict(out))  # the output schema
    finally:
        memory.forget_user(user_id)
