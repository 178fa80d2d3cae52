"""One set of rules reads an answer from text: the closed-form fallback (an endpoint without
log-probabilities) and the optimizer's text losses agree on the same reply."""

import pytest

from personaagent import prompts
from personaagent.answers.closed_form import AnswerSpec, RatingScale, parse_text
from personaagent.answers.text import first_letter, first_on_scale
from personaagent.persona.losses import choice_match, rating_error
from personaagent.persona.sections import initial_persona, section

FOUR = ["north", "south", "east", "west"]


@pytest.mark.parametrize("reply, letter", [("B", "B"), ("(C) east", "C"), ("I think B.", "B"), ("Option D", "D"),
                                           ("none of them", None)])
def test_the_fallback_and_the_choice_loss_read_the_same_letter(reply, letter):
    read = parse_text(AnswerSpec.of(FOUR), reply)
    index = first_letter(reply, 4)
    assert (FOUR[index] if index is not None else None) == (read.answer if read.parsed else None)
    assert (choice_match({"ground_truth": letter or "A"}, reply).loss == 0.0) == (letter is not None)
    if letter:
        assert read.answer == FOUR["ABCD".index(letter)]


def test_a_letter_beyond_the_options_is_not_an_answer():
    assert first_letter("E, then A", 4) == 0 and first_letter("E", 4) is None
    assert not parse_text(AnswerSpec.of(["x", "y"]), "C").parsed


@pytest.mark.parametrize("reply, value", [("4", 4.0), ("Heat (1995): I'd say 3.5", 3.5), ("10 of 10, so 5", 5.0),
                                          ("no idea", None)])
def test_the_fallback_and_the_rating_loss_read_the_same_number_on_the_scale(reply, value):
    scale = RatingScale(0.5, 5, 0.5)
    assert first_on_scale(reply, scale.low, scale.high) == value
    read = parse_text(AnswerSpec(scale=scale), reply)
    assert read.median == value
    assert rating_error({"ground_truth": "4", "scale": scale.to_dict()}, reply).loss == abs((value or 2.75) - 4)


def test_the_initial_persona_has_its_section_on_the_user_under_the_one_title():
    assert section(initial_persona("u1", "- movies: likes thrillers"), prompts.KNOWN) == "- movies: likes thrillers"
