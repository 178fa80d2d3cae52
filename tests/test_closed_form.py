"""Closed-form answers: options and rating scales read from the model's token distribution, the
text fallback for endpoints without log-probabilities, and the position-bias correction."""

import math

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from personaagent.answers.closed_form import (
    AnswerSpec, RatingScale, interpolated_median, median_loss, option_loss, parse_text, rating_loss, rating_point,
    token_distribution,
)
from personaagent.answers.position_bias import debias, letter_prior, rotations
from personaagent.errors import PersonaAgentError
from personaagent.graphs.agent import build_agent_graph
from personaagent.memory import Interaction
from personaagent.resources import Resources
from personaagent.testing import ScriptedChatModel, distribution_reply, persona_agent_script

OPTIONS = ["Grease", "Alien", "The Notebook"]


def run(memory, model, context, **inputs):
    graph = build_agent_graph(Resources(memory=memory, agent_model=model)).compile()
    return graph.invoke({"messages": [HumanMessage("Which film tonight?")], **inputs}, context=context)


def test_options_are_read_from_the_letter_distribution_in_one_call(memory, context_for):
    model = ScriptedChatModel(script=persona_agent_script(distribution_reply({"B": 0.6, "A": 0.2, " C": 0.1, "The": 0.1})))
    out = run(memory, model, context_for("alice", option_orders=1), answer_options=OPTIONS)
    assert len(model.calls) == 1
    call = model.calls[0]
    assert call["logprobs"] is True and call["max_tokens"] == 1 and "tool_names" not in call
    assert "A. Grease\nB. Alien\nC. The Notebook" in call["messages"][-1].content
    assert out["answer"] == "Alien" and out["answer_path"] == "logprobs"
    # "The" is not an option: the rest is renormalised over the letters
    assert out["answer_distribution"] == pytest.approx({"Grease": 0.2 / 0.9, "Alien": 0.6 / 0.9, "The Notebook": 0.1 / 0.9}, abs=1e-6)
    stored = memory.episodes.list("alice")[0]
    assert stored.answer == "Alien" and stored.options == OPTIONS


def test_a_rating_scale_gives_the_distribution_its_median_and_mean(memory, context_for):
    model = ScriptedChatModel(script=persona_agent_script(distribution_reply({"4": 0.5, "3": 0.3, "5": 0.2})))
    out = run(memory, model, context_for("alice"), rating_scale={"low": 0.5, "high": 5, "step": 0.5}, record=False)
    assert "whole number from 1 to 5" in model.calls[0]["messages"][-1].content
    assert out["answer_distribution"] == pytest.approx({"1": 0, "2": 0, "3": 0.3, "4": 0.5, "5": 0.2}, abs=1e-6)
    # median: 3.5 + (0.5 - 0.3) / 0.5 = 3.9, snapped to the 0.5 step → 4; mean 0.9 + 2 + 1 = 3.9
    assert out["rating"] == {"median": 4.0, "mean": pytest.approx(3.9)}
    assert out["answer"] == "4"


def test_an_endpoint_without_logprobs_falls_back_to_text_once_and_says_so(memory, context_for):
    model = ScriptedChatModel(script=persona_agent_script("B. Alien, because you like science fiction"))
    first = run(memory, model, context_for("alice", option_orders=1), answer_options=OPTIONS, record=False)
    assert first["answer"] == "Alien" and first["answer_path"] == "text"
    assert first["answer_distribution"] == {"Grease": 0.0, "Alien": 1.0, "The Notebook": 0.0}
    assert [c.get("logprobs") for c in model.calls] == [True, None]  # tried once, then text
    second = run(memory, model, context_for("alice", option_orders=1), answer_options=OPTIONS, record=False)
    assert second["answer_path"] == "text" and len(model.calls) == 3  # remembered: one call now
    assert second["model_calls"] == 1


def test_unreadable_text_answers_have_no_distribution_and_the_worst_loss():
    spec = AnswerSpec.of(OPTIONS)
    unread = parse_text(spec, "I cannot decide.")
    assert unread.distribution == {} and option_loss(unread.distribution, 1, OPTIONS) == 1.0
    assert parse_text(spec, "the notebook").answer == "The Notebook"
    scale = RatingScale(0.5, 5, 0.5)
    no_rating = parse_text(AnswerSpec(scale=scale), "hard to say")
    assert rating_loss(no_rating.distribution, 4.0, scale) == pytest.approx(4.0 - 2.75)  # the midpoint


def test_malformed_answer_sets_are_refused(memory, context_for):
    model = ScriptedChatModel(script=persona_agent_script("x"))
    for bad, why in ((["only one"], "2 to 26"), (["A", "a"], "twice"), (["ok", " "], "empty option")):
        with pytest.raises(PersonaAgentError, match=why):
            run(memory, model, context_for("alice"), answer_options=bad)
    with pytest.raises(PersonaAgentError, match="not both"):
        run(memory, model, context_for("alice"), answer_options=OPTIONS, rating_scale={"low": 1, "high": 5})
    with pytest.raises(PersonaAgentError, match="low < high"):
        run(memory, model, context_for("alice"), rating_scale={"low": 5, "high": 1})
    assert model.calls == [] and memory.episodes.count("alice") == 0


def test_token_spellings_are_merged_and_absent_labels_get_the_least_listed_mass():
    reply = distribution_reply({"B": 0.5, " B": 0.1, "A.": 0.2, "Hello": 0.05})
    dist = token_distribution(reply, ["A", "B", "C", "D"])
    # C and D are absent: they share the unlisted 0.15, each at most the least listed 0.05
    raw = {"A": 0.2, "B": 0.6, "C": 0.05, "D": 0.05}
    assert dist == pytest.approx({k: v / sum(raw.values()) for k, v in raw.items()})
    dist = token_distribution(distribution_reply({"A": 0.7, "B": 0.2, "x": 0.04}), ["A", "B", "C"])
    assert dist["C"] == pytest.approx(0.04 / 0.94)  # unlisted mass 0.06 > the least listed 0.04
    assert token_distribution(AIMessage("B"), ["A", "B"]) is None
    assert token_distribution(distribution_reply({"Sure": 0.99, "A": 0.001}), ["A", "B"]) is None


def test_rating_point_and_losses_by_hand():
    scale = RatingScale(0.5, 5.0, 0.5)
    assert rating_point({"1": 0, "2": 0, "3": 0.5, "4": 0.5, "5": 0}, scale) == (3.5, 3.5)
    # median 4.5 + (0.5 - 0.4) / 0.6 = 4.67 → 4.5; mean 0.1 + 0.2 + 0.3 + 0.4 + 3.0 = 4.0
    assert rating_point({"1": 0.1, "2": 0.1, "3": 0.1, "4": 0.1, "5": 0.6}, scale) == (4.5, pytest.approx(4.0))
    assert rating_loss({"3": 0.5, "4": 0.5}, 4.0, scale) == pytest.approx(0.5)
    # the median before snapping: 3.5 + (0.5 − 0.45) / 0.55 = 3.59, so 0.41 from a 4
    assert interpolated_median({"1": 0.45, "4": 0.55}) == pytest.approx(3.5 + 0.05 / 0.55)
    assert median_loss({"1": 0.45, "4": 0.55}, 4.0, scale) == pytest.approx(0.5 - 0.05 / 0.55)
    assert median_loss({}, 4.0, scale) == pytest.approx(4.0 - 2.75)  # no rating: the midpoint
    assert option_loss({"Grease": 0.2, "Alien": 0.8}, 1, ["Grease", "Alien"]) == pytest.approx(0.2)


def test_the_letter_prior_cancels_content_and_debiasing_removes_it():
    # A model that likes position A twice as much as the others, whatever the options say, and
    # otherwise prefers "Alien": the prior estimated from the rotations is the position bias.
    bias = [0.4, 0.2, 0.2, 0.2]
    taste = {"Grease": 0.1, "Alien": 0.6, "Notting Hill": 0.2, "The Notebook": 0.1}

    def observed(order):
        raw = [b * taste[o] for b, o in zip(bias, order)]
        return [r / sum(raw) for r in raw]

    options = list(taste)
    prior = letter_prior([[observed(order) for order in rotations(options)]])
    assert prior == pytest.approx(bias)
    for order in rotations(options):
        fixed = debias(observed(order), prior)
        assert fixed == pytest.approx([taste[o] for o in order])


def test_the_persona_lookup_rules_decide_what_is_read_before_the_model(memory, context_for):
    from personaagent.memory import KnowledgeItem
    from personaagent.persona.sections import LOOKUPS, lookup_rules, remove_section, replace_section, with_lookup

    memory.knowledge.add("alice", [KnowledgeItem(id="1", text="Alien is a 1979 science-fiction horror film.")])
    memory.episodes.add([Interaction(user_id="alice", query="Film?", ground_truth="Alien", timestamp=1.0)])
    base = memory.current_persona("alice").text
    assert lookup_rules(base) == {"profile": {"choice", "rating", "open"}, "knowledge": {"choice", "open"}}
    assert "web" not in base  # web search is off in tests: the rules never name it

    def system_for(persona, **inputs):
        model = ScriptedChatModel(script=persona_agent_script(distribution_reply({"B": 1.0, "5": 1.0})))
        run(memory, model, context_for("alice", persona=persona, max_tool_rounds=0), record=False, **inputs)
        return model.calls[0]["messages"][0].content

    assert "science-fiction horror" in system_for(base, answer_options=OPTIONS)
    assert "science-fiction horror" not in system_for(base, rating_scale={"low": 1, "high": 5})
    edited = replace_section(base, LOOKUPS, "- profile: none\n- knowledge: rating")
    assert "science-fiction horror" in system_for(edited, rating_scale={"low": 1, "high": 5})
    assert "science-fiction horror" not in system_for(edited, answer_options=OPTIONS)
    # the rules are configuration for the graph: a model without tools does not read them
    assert LOOKUPS not in system_for(base, answer_options=OPTIONS)
    # one more kind for one lookup, the rest of the rules and the persona as they were
    reading = with_lookup(base, "knowledge", "rating")
    assert lookup_rules(reading) == {"profile": {"choice", "rating", "open"}, "knowledge": {"choice", "rating", "open"}}
    assert remove_section(reading, LOOKUPS) == remove_section(base, LOOKUPS)
    assert "science-fiction horror" in system_for(reading, rating_scale={"low": 1, "high": 5})
    assert with_lookup(reading, "knowledge", "rating") == reading and with_lookup("no rules", "knowledge", "rating") == "no rules"


def test_scale_arithmetic():
    scale = RatingScale.of({"low": 0.5, "high": 5, "step": 0.5})
    assert scale.values()[:3] == [0.5, 1.0, 1.5] and len(scale.values()) == 10
    assert scale.points() == [1, 2, 3, 4, 5]
    assert scale.snap(3.74) == 3.5 and scale.snap(3.75) == 4.0 and scale.snap(9) == 5.0
    assert math.isclose(scale.midpoint, 2.75)


def test_a_blank_first_token_is_read_from_its_distribution_not_retried(memory, context_for):
    model = ScriptedChatModel(script=persona_agent_script(distribution_reply({"\n": 0.5, "B": 0.3, "A": 0.2})))
    out = run(memory, model, context_for("alice", option_orders=1), answer_options=OPTIONS, record=False)
    assert len(model.calls) == 1 and out["answer"] == "Alien" and out["answer_path"] == "logprobs"


def test_a_label_must_fit_the_answer_set_and_is_stored_as_the_option(memory, context_for):
    model = ScriptedChatModel(script=persona_agent_script(distribution_reply({"B": 1.0})))
    with pytest.raises(PersonaAgentError, match="'Jaws' is not one of the options"):
        run(memory, model, context_for("alice"), answer_options=OPTIONS, ground_truth="Jaws")
    with pytest.raises(PersonaAgentError, match="outside the scale 1–5"):
        run(memory, model, context_for("alice"), rating_scale={"low": 1, "high": 5}, ground_truth="9")
    assert model.calls == [] and memory.episodes.count("alice") == 0
    run(memory, model, context_for("alice"), answer_options=OPTIONS, ground_truth="B")  # the letter names Alien
    assert memory.episodes.list("alice")[0].ground_truth == "Alien"


def letter_favouring(weights: dict[str, float], content: dict[str, float]):
    """A model whose letter probabilities are a position preference (``weights`` by letter) times
    a liking of each option (``content`` by option text), renormalised: what a reading over
    orders should undo."""
    def answer(system, messages):
        shown = [line[3:] for line in messages[-1].content.splitlines() if line[1:3] == ". "]
        raw = {letter: weights[letter] * content[option] for letter, option in zip("ABC", shown)}
        return distribution_reply({k: v / sum(raw.values()) for k, v in raw.items()})
    return answer


def test_a_choice_read_under_every_order_averages_the_option_probabilities(memory, context_for):
    weights, content = {"A": 1.0, "B": 6.0, "C": 1.0}, {"Grease": 1.0, "Alien": 1.0, "The Notebook": 2.0}
    model = ScriptedChatModel(script=persona_agent_script(letter_favouring(weights, content)))
    out = run(memory, model, context_for("alice", option_orders=0), answer_options=OPTIONS, record=False)
    shown = [[line[3:] for line in c["messages"][-1].content.splitlines() if line[1:3] == ". "] for c in model.calls]
    assert shown == [OPTIONS, OPTIONS[1:] + OPTIONS[:1], OPTIONS[2:] + OPTIONS[:2]]  # each option at each letter once
    # by hand: order 1 (Grease, Alien, Notebook) → 1, 6, 2 over 9; order 2 (Alien, Notebook, Grease) → 1, 12, 1
    # over 14; order 3 (Notebook, Grease, Alien) → 2, 6, 1 over 9
    by_hand = {"Grease": (1 / 9 + 1 / 14 + 6 / 9) / 3, "Alien": (6 / 9 + 1 / 14 + 1 / 9) / 3,
               "The Notebook": (2 / 9 + 12 / 14 + 2 / 9) / 3}
    assert out["answer_distribution"] == pytest.approx(by_hand, abs=1e-5)
    assert out["answer"] == "The Notebook"  # the liked option, although B is the letter the model favours
    assert out["model_calls"] == 3 and len(out["answer_orders"]) == 3
    assert out["answer_orders"][0] == pytest.approx({"Grease": 1 / 9, "Alien": 6 / 9, "The Notebook": 2 / 9}, abs=1e-5)
    # read under the order given only, the favoured letter wins
    first = run(memory, model, context_for("alice", option_orders=1), answer_options=OPTIONS, record=False)
    assert first["answer"] == "Alien" and len(first["answer_orders"]) == 1


def test_two_orders_are_spread_over_the_positions():
    from personaagent.answers.closed_form import option_orders

    four = ["a", "b", "c", "d"]
    assert option_orders(four, 2) == [("a", "b", "c", "d"), ("c", "d", "a", "b")]
    assert option_orders(four, 0) == option_orders(four, 9) == [tuple(r) for r in rotations(four)]
    assert option_orders(four, 1) == [tuple(four)]
