"""The optimizer's settings, in one typed place. It is the optimizer graph's input schema (so
LangGraph Studio shows each field with its description), and the CLI, ``optimize_persona``, the
evaluation and the demo build the same object."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import PersonaAgentError

OPERATORS = ("evidence", "prune", "examples", "edit", "section")  # the default, in this order
Operator = Literal["evidence", "prune", "examples", "edit", "section", "lookups"]
DEFAULT_CONCURRENCY = 4  # users optimized at once by ``optimize_users`` (and ``optimize --users``)
MetricName = Literal["auto", "closed", "median", "label", "choice", "rating", "judge"]  # see ``losses.build_metric``


class OptimizerSettings(BaseModel):
    """How one test-time optimization of a user's persona runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_size: int = Field(3, ge=1, le=50, description=(
        "N: the user's latest labelled interactions, which the critique reflects on (the paper's batch)."))
    validation_size: int = Field(8, ge=0, le=200, description=(
        "Labelled interactions just before the batch. Candidates are judged on these plus the batch; the "
        "critique never sees them."))
    candidates: int = Field(2, ge=1, le=len(OPERATORS), description=(
        "Candidate personas per iteration, each from a different edit operator; the current persona is "
        "always in the pool."))
    operators: list[Operator] = Field(default_factory=lambda: list(OPERATORS), min_length=1, description=(
        "Edit operators, taken in turn: evidence (figures computed from the user's history), prune (the "
        "longest model-written section dropped, so the persona without it competes), examples "
        "(past interactions pinned as examples), edit (structured add/replace/delete of lines in named "
        "sections, applied by code), section (one section rewritten); not by default: lookups (the persona "
        "also reads a source it skips on the batch's kind of request and that holds something for this user)."))
    margin: float = Field(0.01, ge=0.0, description=(
        "A candidate is accepted only if its mean per-sample loss is lower than the current persona's by "
        "at least this much on the same samples, and it wins on more samples than it loses."))
    max_iters: int = Field(2, ge=0, le=50, description="Critique-and-rewrite iterations at most.")
    patience: int = Field(2, ge=1, le=50, description="Stop after this many iterations in a row with nothing accepted.")
    max_calls: int | None = Field(None, ge=1, description="Model-call budget for the whole run (none by default).")
    metric: MetricName = Field("auto", description=(
        "Per-sample loss. auto: closed (1 − p(the user's pick), or the expected rating error, read from "
        "the answer's distribution) when every sample states its options or scale, else rating, label "
        "or an LLM judge by the ground truths. median: as closed, but a rating's loss is the absolute "
        "error of its distribution's median before rounding to the scale (what MAE measures)."))
    max_persona_chars: int = Field(2400, ge=400, le=20000, description="Length bound of a persona.")
    max_examples: int = Field(3, ge=1, le=10, description="Past interactions the examples operator pins at most.")
    trigger: Literal["manual", "scheduled"] = Field("manual", description="Who started the run (shown in the run log).")

    @classmethod
    def of(cls, value: Any = None, **overrides: Any) -> "OptimizerSettings":
        """Settings from a mapping (keys left out or None take their defaults) or an instance,
        with ``overrides``; a bad value is a ``PersonaAgentError`` naming the field."""
        data = value.model_dump() if isinstance(value, cls) else dict(value or {})
        data = {k: v for k, v in {**data, **overrides}.items() if v is not None}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
            raise PersonaAgentError(f"invalid optimizer settings: {problems}") from None

    def operators_for(self, iteration: int) -> list[str]:
        """The operators iteration ``iteration`` (1, 2, …) draws its candidates from, in turn."""
        k = len(self.operators)
        start = (iteration - 1) * self.candidates
        return [self.operators[(start + i) % k] for i in range(k)]
