"""Graph state. ``InputState`` is what a caller (or Studio) sends; per-turn fields are cleared by
``update_memory`` so they never leak into the next turn of a checkpointed thread."""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict


class InputState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    ground_truth: str | None  # what the user really wanted for this request (a labelled interaction)
    feedback: str | None  # free-text feedback on this request
    persona_override: str | None  # act under this persona instead of the stored one (optimizer)
    as_of: float | None  # retrieve only memories strictly older than this epoch time
    record: bool | None  # False: do not write this interaction to memory (default: write)
    # A closed-form request states its answer set: the answer is then read from the model's token
    # distribution (see ``personaagent.answers``). At most one of the two.
    answer_options: list[str] | None  # the options to choose from
    rating_scale: dict[str, float] | None  # {"low": 0.5, "high": 5, "step": 0.5}


class OutputState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    answer: str
    # closed-form turns: option → probability, or rating → probability
    answer_distribution: dict[str, float] | None
    answer_path: str | None  # logprobs | text (closed form read from a text reply) | generated (free text)
    rating: dict[str, float] | None  # a rating's point predictions: {"median": …, "mean": …}
    retrieved: list[dict[str, Any]]
    persona_version: int | None
    interaction_id: str | None
    model_calls: Annotated[int, operator.add]  # chat-model calls made by the reason node
    tokens: Annotated[int, operator.add]  # their total tokens, when the model reports usage


class AgentState(InputState, OutputState, total=False):
    persona: str  # the persona text this turn runs under
    sources: dict[str, str]  # what the lookups read for this turn: profile / knowledge / web → text


class SimulationInput(InputState, total=False):
    sample: dict[str, Any]  # the interaction being re-answered, tagged with its round


class SimulationOutput(TypedDict, total=False):
    simulations: Annotated[list[dict[str, Any]], operator.add]
    model_calls: Annotated[int, operator.add]
    tokens: Annotated[int, operator.add]


class SimulationState(SimulationInput, OutputState, total=False):
    persona: str
    sources: dict[str, str]


class OptimizerInput(TypedDict, total=False):
    batch_size: int  # N: the user's latest labelled interactions to align on (default 3)
    holdout_size: int  # labelled interactions just before the batch, used for acceptance (default 2)
    max_iters: int  # critique/rewrite iterations at most (default 3)
    patience: int  # stop after this many iterations in a row without improvement (default 2)
    min_delta: float  # a candidate must lower the loss by at least this much (default 0.01)
    max_calls: int | None  # model-call budget for the whole run (default: none)
    metric: str  # auto | label | rating | judge (default auto)
    max_persona_chars: int  # length bound of a persona (default 2400)
    trigger: str  # who started the run: manual | scheduled (shown in the run log)


class OptimizerOutput(TypedDict, total=False):
    initial_loss: float | None
    best_loss: float | None
    loss_curve: list[dict[str, Any]]
    accepted: int
    rejected: int
    rejected_candidates: list[dict[str, Any]]
    model_calls: Annotated[int, operator.add]
    tokens: Annotated[int, operator.add]
    stop_reason: str
    final_version: int
    metric: str


class OptimizerState(OptimizerInput, OptimizerOutput, total=False):
    run_id: str
    samples: list[dict[str, Any]]  # batch and held-out interactions, each with its split
    base_version: int  # the stored persona version this run builds on (its last accepted one)
    best_persona: str
    best_scores: list[dict[str, Any]]
    candidate: str | None
    candidate_issue: str | None  # why the rewrite gave no candidate: empty rewrite | truncated rewrite
    critique: str | None
    round: int  # 0: the stored persona; i: the candidate of iteration i
    simulations: Annotated[list[dict[str, Any]], operator.add]
    scores: list[dict[str, Any]]  # the current round's per-sample losses
    stale: int  # iterations in a row without an accepted candidate
