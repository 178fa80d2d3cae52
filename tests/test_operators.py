"""The optimizer's edit operators and the evidence they write, checked by hand."""

import pytest

from personaagent.persona.evidence import choice_lines, evidence_section, rating_lines
from personaagent.memory import Interaction
from personaagent.persona.operators import EXAMPLES, Edit, Proposal, apply_edits, evidence, examples, fit, lookups, propose, prune
from personaagent.persona.sections import LOOKUPS, initial_persona, lookup_rules, section, split_sections
from personaagent.persona.selection import best, paired
from personaagent.persona.settings import OptimizerSettings

SCALE = {"low": 0.5, "high": 5.0, "step": 0.5}


def rated(value, genres, t):
    return Interaction(user_id="u", query=f"Rate film {t}", ground_truth=f"{value:g}", scale=SCALE, timestamp=float(t),
                       metadata={"genres": genres})


def test_rating_evidence_matches_hand_computed_figures():
    items = [rated(v, g, t) for t, (v, g) in enumerate(
        [(4, "Drama"), (5, "Drama"), (4.5, "Drama|Romance"), (1, "Horror"), (2, "Horror"), (1.5, "Horror"), (3, "Comedy")])]
    lines = rating_lines(items, signed_error=0.6)
    # values 4, 5, 4.5, 1, 2, 1.5, 3: mean 3.0, median 3, population SD sqrt(14.5 / 7) = 1.439
    assert lines[0] == ("- Their 7 past ratings: mean 3.00, median 3, spread (SD) 1.44, lowest 1, highest 5; "
                        "most used 4 (14%), 5 (14%).")
    # Drama 4, 5, 4.5 → 4.5 (+1.50); Horror 1, 2, 1.5 → 1.5 (−1.50); Romance and Comedy have < 3 ratings
    assert lines[1] == "- Rated above their mean: Drama +1.50 (3 ratings)."
    assert lines[2] == "- Rated below their mean: Horror -1.50 (3 ratings)."
    assert lines[3] == "- The assistant's recent predictions for this user were 0.60 points too high on average."
    assert rating_lines(items[:2]) == []  # too few to say anything
    assert "too high" not in "\n".join(rating_lines(items, signed_error=0.1))  # below the threshold


def test_choice_evidence_names_picks_shared_words_and_frequent_labels():
    picks = [
        Interaction(user_id="u", query="Lunch?", options=["gluten-free salad bowl", "wheat pasta"], ground_truth="gluten-free salad bowl",
                    feedback="No wheat for me.", timestamp=1.0),
        Interaction(user_id="u", query="Snack?", options=["rice crackers", "gluten-free muffin", "bagel"],
                    ground_truth="gluten-free muffin", timestamp=2.0),
        Interaction(user_id="u", query="Dinner?", options=["gluten-free salad bowl", "pizza"], ground_truth="gluten-free salad bowl",
                    timestamp=3.0),
    ]
    lines = choice_lines(picks)
    assert lines[0] == '- Chose "gluten-free salad bowl" over "wheat pasta" (they said: "No wheat for me.").'
    assert 'Words in what they chose that the options they passed over never use: gluten-free, salad, bowl.' in lines[-2]
    assert lines[-1] == '- Chosen most often (of 3): "gluten-free salad bowl" 2.'
    assert evidence_section([Interaction(user_id="u", query="q", answer="a", timestamp=1.0)]) == ""


def test_structured_edits_touch_only_their_section_and_keep_the_rules():
    persona = initial_persona("kim", "- movies: likes thrillers")
    edits = [Edit(action="add", section="How to serve this user", text="Mention the running time."),
             Edit(action="replace", section="what you know about this user", line="- movies: likes thriller",
                  text="movies: likes slow thrillers"),
             Edit(action="delete", section=LOOKUPS, line="- profile: choice, rating, open")]
    edited, applied = apply_edits(persona, edits)
    assert applied == ["add in How to serve this user", "replace in What you know about this user"]
    assert section(edited, "What you know about this user") == "- movies: likes slow thrillers"
    assert section(edited, "How to serve this user").endswith("- Mention the running time.")
    assert section(edited, LOOKUPS) == section(persona, LOOKUPS)  # protected: the delete was skipped
    before, after = dict(split_sections(persona)), dict(split_sections(edited))
    assert before[""] == after[""]  # the opening is untouched


def test_edits_that_misname_the_section_or_line_land_where_they_can_do_no_harm():
    # what the embedded model returned on this machine: a heading of its input as the section, a
    # replace with no line; the lesson goes into the first titled section as an added line
    persona = initial_persona("kim", "- movies: likes thrillers")
    edited, applied = apply_edits(persona, [
        Edit(action="replace", section="Lessons about this user", line="", text="Rates horror films low."),
        Edit(action="delete", section="How to serve", line="a line that is not there"),
        Edit(action="add", section="## Lookups before answering", text="web: rating")])
    assert applied == ["add in What you know about this user"]
    assert section(edited, "What you know about this user") == "- movies: likes thrillers\n- Rates horror films low."
    assert section(edited, LOOKUPS) == section(persona, LOOKUPS)
    assert section(edited, "How to serve this user") == section(persona, "How to serve this user")


def test_prune_drops_the_longest_model_written_section_only():
    persona = initial_persona("kim", "- movies: likes thrillers\n- books: sci-fi\n- food: spicy")
    cut, calls, _ = prune(proposal(persona, []))
    assert calls == 0 and cut.operator == "prune" and cut.note == "dropped What you know about this user"
    assert section(cut.persona, "What you know about this user") is None
    assert section(cut.persona, "How to serve this user") == section(persona, "How to serve this user")
    assert section(cut.persona, LOOKUPS) == section(persona, LOOKUPS)
    assert split_sections(cut.persona)[0] == split_sections(persona)[0]  # the opening stays
    history = [rated(4, "Drama", t) for t in range(4)]
    with_evidence, _, _ = evidence(proposal(cut.persona, history))
    bare, _, _ = prune(proposal(with_evidence.persona, []))
    assert "Their 4 past ratings" in bare.persona  # code-written sections are never pruned
    assert prune(proposal(bare.persona, [])) == (None, 0, 0)  # nothing the model wrote is left


def test_fit_trims_editable_lines_never_the_rules():
    persona = initial_persona("kim", "\n".join(f"- fact {n}" for n in range(100)))
    short = fit(persona, 700)
    assert len(short) <= 700 and section(short, LOOKUPS) == section(persona, LOOKUPS)
    assert "- fact 0" in short and "- fact 99" not in short


def proposal(persona, history, misses=(), similar=lambda text, k: []):
    return Proposal(persona=persona, critique="", misses=list(misses), history=history, similar=similar, model=None,
                    retry=None, max_chars=2400, max_examples=2)


def test_evidence_and_examples_operators_write_their_sections():
    persona = initial_persona("kim", None)
    history = [rated(4, "Drama", t) for t in range(4)]
    candidate, calls, _ = evidence(proposal(persona, history))
    assert calls == 0 and candidate.operator == "evidence" and "mean 4.00" in candidate.persona
    again, _, _ = evidence(proposal(candidate.persona, history))
    assert again is None  # nothing new to say: no candidate
    near = [Interaction(user_id="u", query="Rate film X", ground_truth="2", scale=SCALE, timestamp=1.0, id="x")]
    picked, _, _ = examples(proposal(persona, [], misses=[{"query": "Rate film Y"}], similar=lambda text, k: near))
    assert section(picked.persona, EXAMPLES) == '- The user asked "Rate film X" and chose "2".'
    assert section(picked.persona, LOOKUPS) == section(persona, LOOKUPS)


def test_propose_skips_operators_with_nothing_to_change_and_stops_at_the_count():
    persona = initial_persona("kim", None)
    history = [rated(4, "Drama", t) for t in range(4)]
    found, calls, _ = propose(proposal(persona, history), ["edit", "section", "evidence", "examples"], 2, "t")
    assert [c.operator for c in found] == ["evidence"] and calls == 0  # no critique, no model: no model operator


def test_paired_selection_needs_the_margin_and_more_wins_than_losses():
    splits = {"a": "batch", "b": "validation", "c": "validation"}
    current = {"a": 1.0, "b": 0.5, "c": 0.5}
    lucky = paired(current, {"a": 0.0, "b": 0.6, "c": 0.6}, splits, margin=0.01)  # +1 on the batch, −0.1 twice
    assert lucky["improvement"] == pytest.approx(0.8 / 3) and (lucky["wins"], lucky["losses"]) == (1, 2)
    assert not lucky["passes"]
    steady = paired(current, {"a": 0.9, "b": 0.45, "c": 0.5}, splits, margin=0.01)
    assert steady["passes"] and steady["ties"] == 1 and steady["validation_improvement"] == pytest.approx(0.025)
    tiny = paired(current, {"a": 0.99, "b": 0.5, "c": 0.5}, splits, margin=0.01)
    assert not tiny["passes"]  # mean gain 0.0033 is below the margin
    assert best([lucky, steady, tiny]) == 1 and best([lucky, tiny]) is None


def test_settings_are_one_typed_object_with_named_errors():
    defaults = OptimizerSettings()
    assert (defaults.batch_size, defaults.validation_size, defaults.candidates) == (3, 8, 2)
    assert defaults.operators_for(1)[:2] == ["evidence", "prune"] and defaults.operators_for(2)[:2] == ["examples", "edit"]
    assert OptimizerSettings.of({"margin": None, "max_iters": 5}).max_iters == 5
    with pytest.raises(Exception, match="validation_size"):
        OptimizerSettings.of(validation_size=-1)
    schema = OptimizerSettings.model_json_schema()["properties"]
    assert all(field.get("description") for field in schema.values())  # Studio shows every one


def test_the_lookups_operator_adds_one_readable_source_for_the_batch_kind_only():
    persona = initial_persona("kim", "- movies: likes thrillers")

    def proposal(kind, readable, text=persona):
        return Proposal(persona=text, critique="", misses=[], history=[], similar=lambda q, k: [], model=None,
                        retry=None, max_chars=2400, max_examples=3, kind=kind, readable=readable)

    candidate, calls, _ = lookups(proposal("rating", ("knowledge",)))
    assert calls == 0 and candidate.note == "reads knowledge on rating requests"
    assert lookup_rules(candidate.persona)["knowledge"] == {"choice", "rating", "open"}
    assert candidate.persona.split(LOOKUPS)[0] == persona.split(LOOKUPS)[0]  # nothing else changed
    assert lookups(proposal("choice", ("knowledge",)))[0] is None  # already read on choices
    assert lookups(proposal("rating", ()))[0] is None  # nothing this user could read
    assert lookups(proposal("rating", ("knowledge",), text="a persona without lookup rules"))[0] is None
