"""The profile says nothing about the user that their labelled history contradicts."""

import pytest

from personaagent.memory import Interaction
from personaagent.memory.ingest import read_history
from personaagent.memory.profile_check import checked, tastes
from personaagent.services.demo import demo_file
from personaagent.testing import ScriptedChatModel, persona_agent_script

pytestmark = pytest.mark.backends("chroma", "postgres")


def choice(query, options, pick, n, domain="food"):
    return Interaction(user_id="maya", query=query, options=options, ground_truth=pick, timestamp=float(n),
                       metadata={"domain": domain})


def test_picks_are_liked_options_passed_over_avoided_and_ratings_by_their_place_on_the_scale():
    scale = {"low": 0.5, "high": 5.0, "step": 0.5}
    items = [choice("Dinner?", ["Nashville hot chicken", "Plain cheese pizza"], "Nashville hot chicken", 1),
             choice("Lunch?", ["Plain cheese pizza", "Nashville hot chicken"], "Plain cheese pizza", 2),
             choice("Snack?", ["The crisps", "An apple"], "An apple", 3),
             Interaction(user_id="maya", query='How would I rate the movie "Alien" (Horror)?', scale=scale,
                         ground_truth="4.5", timestamp=4.0),
             Interaction(user_id="maya", query='How would I rate the movie "Cats" (Musical)?', scale=scale,
                         ground_truth="1", timestamp=5.0),
             Interaction(user_id="maya", query='How would I rate the movie "Heat" (Crime)?', scale=scale,
                         ground_truth="3", timestamp=6.0)]
    liked, avoided = tastes(items)
    # picked once and passed over once: liked, not avoided; articles do not count
    assert liked == {"nashville hot chicken", "plain cheese pizza", "apple", "alien"}
    assert avoided == {"crisps", "cats"}  # 3 of 0.5–5 is neither


def test_a_contradicted_phrase_is_dropped_and_the_rest_of_the_line_kept():
    liked, avoided = {"nashville hot chicken", "pad kra pao"}, {"mild chicken korma", "plain cheese pizza"}
    line = "Likes: Pad kra pao, mild chicken korma. Avoids: Plain cheese pizza, Nashville hot chicken dishes."
    assert checked(line, liked, avoided) == (
        "Likes: Pad kra pao. Avoids: Plain cheese pizza.", ["mild chicken korma", "Nashville hot chicken dishes"])
    assert checked("likes spicy Thai and Sichuan dishes, avoids bland food", liked, avoided) == (
        "likes spicy Thai and Sichuan dishes, avoids bland food", [])  # genres: nothing to contradict, unchanged
    assert checked("likes mild chicken korma and avoids Nashville hot chicken", liked, avoided)[0] == ""


def test_the_stored_profile_of_a_demo_user_never_says_she_avoids_what_she_chose(memory):
    items = read_history("maya", demo_file("maya.jsonl"))
    memory.episodes.add(items)
    wrong = "Likes: Pad kra pao with extra chillies, mild chicken korma. Avoids: Plain cheese pizza, Nashville hot chicken."
    memory.refresh_profile("maya", ScriptedChatModel(script=persona_agent_script("x", profile=wrong)))
    profile = memory.profiles.latest("maya")
    food = next(line for line in profile.text.splitlines() if line.startswith("- food:"))
    assert "Nashville hot chicken" not in food and "Pad kra pao" in food and "Plain cheese pizza" in food
    assert profile.extra["lines_contradicted"] >= 1 and profile.extra["dropped"] >= 2
    # each line is checked against its own domain's history: the persona shows the checked food line
    persona_food = next(line for line in memory.current_persona("maya").text.splitlines() if "- food:" in line)
    assert "Nashville hot chicken" not in persona_food
