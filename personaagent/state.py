"""Graph state: what callers send (``InputState``), what a turn returns, and the optimizer's channels.
Per-turn fields are cleared by ``update_memory`` so they never leak into the next turn of a
checkpointed thread. Nodes and graphs import it; it imports neither."""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from .persona.settings import MetricName, OptimizerSettings


class InputState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    ground_truth: str | None  # what the user really wanted for this request (a labelled interaction)
    feedback: str | None  # free-text feedback on this request
    persona_override: str | None  # act under this persona instead of the stored one (optimizer)
    as_of: float | None  # retrieve only memories strictly older than this epoch time
    record: bool | None  # False: do not write this interaction to memory (default: write)
    # A closed-form request states its answer set: the answer is then read from the model's token
    # distribution (see ``personaagent.answers.closed_form``). At most one of the two.
    answer_options: list[str] | None  # the options to choose from
    rating_scale: dict[str, float] | None  # {"low": 0.5, "high": 5, "step": 0.5}
    # the user asks to forget these of their stated preferences (numbered as ``persona show`` lists them)
    forget_statements: list[int] | None


class OutputState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    answer: str
    # closed-form turns: option → probability, or rating → probability
    answer_distribution: dict[str, float] | None
    answer_path: str | None  # logprobs | text (closed form read from a text reply) | generated (free text)
    # a choice read under several orders of its options (Context.option_orders): each order's
    # distribution, option → probability, the order given first; answer_distribution is their mean
    answer_orders: list[dict[str, float]] | None
    rating: dict[str, float] | None  # a rating's point predictions: {"median": …, "mean": …}
    # a choice checked against what the user stated: option → p(it fits them), which weighs
    # answer_distribution (answer_orders are read before the check)
    option_fit: dict[str, float] | None
    answer_truncated: bool | None  # a generated answer cut off by the model's token limit
    retrieved: list[dict[str, Any]]
    persona_version: int | None
    interaction_id: str | None  # the stored interaction (None with record=False)
    labelled: bool | None  # whether it carries what the user wanted (a ground truth)
    stated: list[str] | None  # what this turn stated as a lasting preference, now kept in the persona
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


class OptimizerOutput(TypedDict, total=False):
    initial_loss: float | None
    best_loss: float | None
    loss_curve: list[dict[str, Any]]  # per iteration: losses (all, batch, validation), outcome, operator
    pool: list[dict[str, Any]]  # every candidate: operator, paired result against the current persona, size
    reflection: list[str]  # ids of the samples the critique saw (the batch)
    selection: list[str]  # ids of the samples candidates were judged on (validation window + batch)
    accepted: int
    rejected: int
    model_calls: Annotated[int, operator.add]
    tokens: Annotated[int, operator.add]
    stop_reason: str
    final_version: int
    metric: MetricName  # the loss this run used: the ``metric`` setting, with "auto" resolved by load_batch


# One channel per field of ``OptimizerSettings``, the optimizer graph's input schema, derived from
# it: a field added there is a channel here. ``nodes.optimizer.settings_of`` reads them back as one.
OptimizerSettingsChannels = TypedDict(  # type: ignore[misc]
    "OptimizerSettingsChannels", {name: f.annotation for name, f in OptimizerSettings.model_fields.items()},
    total=False)


class OptimizerState(OptimizerOutput, OptimizerSettingsChannels, total=False):
    run_id: str
    samples: list[dict[str, Any]]  # the batch and the validation window, each with its split
    window_start: float  # the oldest sample's time: evidence and examples come from before it
    older: int  # labelled interactions older than that, which evidence and examples draw on
    base_version: int  # the stored persona version this run builds on (its last accepted one)
    best_persona: str
    best_scores: list[dict[str, Any]]
    critique: str | None
    proposals: list[dict[str, Any]]  # this round's candidates: operator, persona, note
    round: int  # 0: the baseline; i: iteration i
    simulations: Annotated[list[dict[str, Any]], operator.add]
    scores: dict[str, list[dict[str, Any]]]  # this round's per-sample losses per persona ("0": current)
    stale: int  # iterations in a row without an accepted candidate
