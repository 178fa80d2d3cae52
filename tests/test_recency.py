"""Recency: with a half-life, recent behaviour outweighs old in retrieval, in the computed evidence
and in the profile check; with the half-life 0 (the default) everything is as it was."""

import json
import time
from datetime import datetime, timezone

import numpy as np
import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from personaagent import recency
from personaagent.context import Context
from personaagent.errors import PersonaAgentError
from personaagent.graphs.agent import build_agent_graph
from personaagent.memory import Interaction
from personaagent.memory.profile_check import checked, tastes
from personaagent.persona.evidence import choice_lines, rating_lines
from personaagent.resources import Resources
from personaagent.testing import HashEmbeddingFunction, ScriptedChatModel, distribution_reply, persona_agent_script

pytestmark = pytest.mark.backends("chroma", "postgres")

DAY = recency.DAY_S
NOW = time.time()
SCALE = {"low": 0.5, "high": 5.0, "step": 0.5}


def test_weights_halve_per_half_life_from_the_newest():
    assert recency.weights([0.0, 30 * DAY, 60 * DAY], 30) == [0.25, 0.5, 1.0]
    assert recency.weights([0.0, 45 * DAY], 90) == pytest.approx([2 ** -0.5, 1.0])
    assert recency.weights([0.0, 1e9], 0) == [1.0, 1.0]  # off: no weighting
    assert recency.weights([], 30) == []
    assert recency.weighted_mean([1.0, 3.0, 5.0], [0.25, 0.5, 1.0]) == pytest.approx(6.75 / 1.75)
    # an older candidate slightly more similar loses to a recent one; off, similarity alone decides
    assert recency.ranked([0.9, 0.8], [0.0, 60 * DAY], 30) == [1, 0]  # 0.9 × 0.25 < 0.8 × 1
    assert recency.ranked([0.9, 0.8], [0.0, 60 * DAY], 0) == [0, 1]


def test_a_negative_or_unreadable_half_life_is_refused_clearly(memory, monkeypatch):
    with pytest.raises(PersonaAgentError, match="0 .off. or a positive number of days .got -1"):
        Context(recency_half_life_days=-1)
    with pytest.raises(PersonaAgentError, match="positive number of days"):
        memory.episodes.search("ann", "anything", half_life_days=-5)
    with pytest.raises(PersonaAgentError, match="positive number of days"):
        recency.weights([0.0], float("nan"))
    monkeypatch.setenv("PERSONAAGENT_RECENCY_HALF_LIFE_DAYS", "soon")
    with pytest.raises(PersonaAgentError, match="PERSONAAGENT_RECENCY_HALF_LIFE_DAYS must be a number"):
        Context()
    monkeypatch.setenv("PERSONAAGENT_RECENCY_HALF_LIFE_DAYS", "90")
    assert Context().recency_half_life_days == 90.0


def _episode(user, query, days_ago, **kw):
    return Interaction(user_id=user, query=query, answer="ok", timestamp=NOW - days_ago * DAY, **kw)


def test_a_recent_episode_outranks_an_older_slightly_more_similar_one(memory):
    query = "hiking trip in the mountains with friends"
    old, recent, other = (_episode("ann", query, 400), _episode("ann", "hiking trip in the mountains with family", 2),
                          _episode("bob", query, 1))
    memory.episodes.add([old, recent, other])
    ids = lambda **kw: [i.id for i in memory.episodes.search("ann", query, k=1, **kw)]  # noqa: E731
    assert ids() == ids(half_life_days=0) == [old.id]  # off: the more similar wins
    assert ids(half_life_days=30) == [recent.id]  # 1.0 × 0.5^(398/30) < 0.83 × 1
    assert ids(half_life_days=100_000) == [old.id]  # a very long half-life is nearly off
    # as_of still hides what is not older, and another user's episodes never come back
    assert ids(half_life_days=30, before=NOW - 100 * DAY) == [old.id]
    found = memory.episodes.search("ann", query, k=5, half_life_days=30)
    assert [i.id for i in found] == [recent.id, old.id] and found[1].score == pytest.approx(1.0, abs=1e-5)


def test_off_ranks_exactly_by_similarity_as_before(memory):
    """The half-life 0 gives the order of cosine similarity alone, computed here independently."""
    words = "walk river city forest beach museum train coffee book garden".split()
    items = [_episode("ann", " ".join(words[: n + 1]), days_ago=n * 50) for n in range(len(words))]
    memory.episodes.add(items)
    query = "walk river city forest"
    embed = HashEmbeddingFunction()
    q = embed([query])[0]
    similarity = {i.id: float(np.dot(embed([i.query])[0], q)) for i in items}
    order = sorted(similarity, key=lambda i: -similarity[i])
    top = [similarity[i] for i in order[:6]]
    assert all(a - b > 1e-3 for a, b in zip(top, top[1:])), top  # no ties: one right order
    expected = order[:5]
    assert [i.id for i in memory.episodes.search("ann", query, k=5, half_life_days=0)] == expected
    assert [i.id for i in memory.episodes.search("ann", query, k=5)] == expected
    assert [i.id for i in memory.episodes.search("ann", query, k=5, half_life_days=30)] != expected


def _rated(value, days, genres="Drama"):
    return Interaction(user_id="u", query=f"Rate this film ({days})", ground_truth=str(value), scale=SCALE,
                       timestamp=days * DAY, metadata={"genres": genres})


def test_evidence_figures_are_weighted_by_hand_computed_weights():
    items = [_rated(1, 0), _rated(3, 30), _rated(5, 60)]
    assert rating_lines(items)[0].startswith("- Their 3 past ratings: mean 3.00, median 3,")
    # weights 0.25, 0.5, 1: mean (0.25 + 1.5 + 5) / 1.75 = 3.857; shares 1 / 1.75 = 57 %, 0.5 / 1.75 = 29 %
    assert rating_lines(items, half_life_days=30)[0] == (
        "- Their 3 past ratings: recency-weighted (half-life 30 days) mean 3.86, median 3, spread (SD) 1.63, "
        "lowest 1, highest 5; most used 5 (57%), 3 (29%).")
    spicy, mild = ["spicy curry", "mild korma"], ["mild korma", "spicy curry"]
    picks = [Interaction(user_id="u", query="Dinner?", options=spicy, ground_truth=g, timestamp=d * DAY)
             for g, d in (("spicy curry", 0), ("spicy curry", 30), ("mild korma", 60), ("mild korma", 60))]
    picks[2].options = mild
    assert choice_lines(picks)[-1] == '- Chosen most often (of 4): "spicy curry" 2, "mild korma" 2.'
    # spicy 0.25 + 0.5 = 0.75, mild 1 + 1 = 2
    assert choice_lines(picks, half_life_days=30)[-1] == (
        '- Chosen most often recency-weighted (half-life 30 days) (of 4): "mild korma" 2.00, "spicy curry" 0.75.')


def _flipped(user, n=10):
    """Chose spicy over mild for ``n`` dinners about a year ago, then mild over spicy for ``n`` lately."""
    options = ["spicy curry", "mild korma"]
    return ([_episode(user, "Which dish for dinner tonight, spicy or mild?", 400 - d, options=options,
                      ground_truth="spicy curry") for d in range(n)]
            + [_episode(user, "Dinner tonight: which dish?", n - d, options=options, ground_truth="mild korma")
               for d in range(n)])


def test_the_profile_check_follows_recent_behaviour(memory):
    history = _flipped("ann")
    assert tastes(history) == ({"spicy curry", "mild korma"}, set())  # off: chosen once, liked for ever
    assert tastes(history, half_life_days=90) == ({"mild korma"}, {"spicy curry"})
    assert checked("Likes spicy curry and mild korma.", *tastes(history)) == ("Likes spicy curry and mild korma.", [])
    assert checked("Likes spicy curry and mild korma.", *tastes(history, 90)) == ("Likes mild korma.", ["spicy curry"])
    memory.episodes.add(history)
    model = ScriptedChatModel(script=persona_agent_script("ok", profile="Likes spicy curry and mild korma."))
    memory.refresh_profile("ann", model)
    assert "spicy curry" in memory.profiles.latest("ann").text
    # each phrase kept records the day the history last supported it
    day = lambda days_ago: datetime.fromtimestamp(NOW - days_ago * DAY, tz=timezone.utc).date().isoformat()  # noqa: E731
    assert json.loads(memory.profiles.latest("ann").extra["supported"]) == {
        "requests: spicy curry": day(391), "requests: mild korma": day(1)}
    memory.refresh_profile("ann", model, half_life_days=90)
    latest = memory.profiles.latest("ann")
    assert "spicy" not in latest.text and "Likes mild korma." in latest.text and latest.extra["lines_contradicted"] == 1
    assert json.loads(latest.extra["supported"]) == {"requests: mild korma": day(1)}


def follows_the_retrieved_choices() -> ScriptedChatModel:
    """Picks the option the retrieved past choices in the system prompt name most often."""
    def answer(system, messages):
        letters = {line[3:].strip(): line[0] for line in str(messages[-1].content).splitlines() if line[1:3] == ". "}
        if not letters:
            return "ok"
        spicy, mild = system.count('chose "spicy curry"'), system.count('chose "mild korma"')
        p = 0.9 if spicy > mild else 0.1
        return distribution_reply({letters["spicy curry"]: p, letters["mild korma"]: 1 - p})

    return ScriptedChatModel(script=persona_agent_script(answer))


def test_a_user_whose_taste_flipped_is_answered_by_the_new_taste(memory, context_for):
    memory.episodes.add(_flipped("ann"))
    graph = build_agent_graph(Resources(memory=memory, agent_model=follows_the_retrieved_choices())).compile(
        checkpointer=InMemorySaver())

    def ask(half_life):
        return graph.invoke(
            {"messages": [HumanMessage("Which dish for dinner tonight, spicy or mild?")],
             "answer_options": ["spicy curry", "mild korma"], "record": False},
            {"configurable": {"thread_id": f"t{half_life}"}},
            context=context_for("ann", option_orders=1, top_k=4, recency_half_life_days=half_life))

    assert ask(0)["answer"] == "spicy curry"  # off: the old, more similar choices are retrieved
    assert ask(90)["answer"] == "mild korma"
