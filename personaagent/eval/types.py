"""What every evaluation dataset loader produces, whatever its source format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import PersonaAgentError
from ..memory.episodic import Interaction
from ..memory.knowledge import KnowledgeItem


class DatasetError(PersonaAgentError, ValueError):
    """A dataset file is missing, malformed, or inconsistent; the message names file and problem."""


@dataclass
class EvalItem:
    """One test question for a user, with what the user really wanted."""

    id: str
    query: str
    ground_truth: str  # an option's text when ``options`` are given, a number on ``scale`` for ratings
    timestamp: float
    attributes: dict[str, Any] = field(default_factory=dict)  # e.g. {"topic": ...}, model-free baselines
    options: list[str] | None = None  # a closed-form choice: the options in the order presented
    scale: dict[str, float] | None = None  # a closed-form rating: {low, high, step}


@dataclass
class EvalUser:
    """One user of an evaluation: the history that becomes their memory, and their test items.

    ``history`` is ingested into episodic memory (oldest first). Its labelled interactions are what
    the optimizer aligns on (the latest N, with the H before them held out). Every test item is
    later than every history interaction, so nothing of the test set is retrievable.
    """

    user_id: str
    history: list[Interaction]
    test: list[EvalItem]
    metric: str  # the optimizer's loss: "rating" (absolute error) or "label" (the wanted option or label)
    attribute: str = ""  # colours the persona map: favourite genre, PrefEval topic, LaMP task …
    alignment_applicable: bool = True  # False when the history has no labelled interaction
    # the user's knowledge collection (an item catalogue), ingested beside the history; only
    # persona lookup rules that read knowledge for a kind of request see it
    knowledge: list[KnowledgeItem] = field(default_factory=list)
    # the preference as the dataset states it (PrefEval): never stored in memory; only the oracle
    # rung, a ceiling for what a persona that says the right thing can do, reads it
    stated_preference: str = ""
    # a cold start (``eval coldstart``): the users whose first interactions the neighbour-seeded
    # rung may borrow from (all rated before this user's first test item); empty: no such rung
    neighbour_pool: frozenset[str] = frozenset()
