"""Cold start: a newcomer's persona borrows what the users most like them share, aggregated, never
their words or ids; the newcomer still reaches only their own episodes; the borrowed section goes
once the newcomer's own labelled history reaches the threshold."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import HumanMessage

from personaagent.cli import main
from personaagent.context import Context
from personaagent.graphs.agent import build_agent_graph
from personaagent.memory import Interaction, neighbours
from personaagent.memory.neighbours import TITLE, Neighbour, borrowed_section, nearest
from personaagent.persona.operators import Edit, Proposal, apply_edits, prune
from personaagent.persona.sections import initial_persona, replace_section, section
from personaagent.resources import Resources
from personaagent.testing import ScriptedChatModel, answering_calls, persona_agent_script

pytestmark = pytest.mark.backends("chroma", "postgres")

T0 = 1_700_000_000.0
BELOW = 10
NEWCOMER = "nina"
# The newcomer asks about hiking. Each neighbour's first ten queries share some of her four
# words, plus a word of their own: hana three of four, ivan two, jon one; the cooks none. max
# asked about cooking first and about hiking only later; olga asks as nina does but is new too.
OWN_WORDS = "hiking trail boots mountain"
FIRST_WORDS = {"u-hana": "hiking trail boots hanaquery", "u-ivan": "hiking trail ivanquery",
               "u-jon": "hiking jonquery", "u-kai": "pasta oven kaiquery", "u-lea": "recipe sauce leaquery",
               "u-max": "pasta recipe maxquery"}
# What each neighbour chose over what, in their first ten interactions.
PICKS = {"u-hana": [("trail runners", "flip flops"), ("wool socks", "cotton socks")],
         "u-ivan": [("trail runners", "flip flops"), ("wool socks", "cotton socks")],
         "u-jon": [("trail runners", "flip flops"), ("sandals", "clogs")]}
PROFILES = {"u-hana": "- gear: likes merino layers; avoids heavy packs", "u-ivan": "- gear: likes merino layers",
            "u-jon": "- food: likes pasta"}
PRIVATE = ("hanaquery", "ivanquery", "jonquery", "hanafeedback", "u-hana", "u-ivan", "u-jon")


def history(user: str, words: str, start: float, count: int = BELOW, picks=()) -> list[Interaction]:
    picks = list(picks) + [(f"{user[2:]}pick{n}", f"{user[2:]}skip{n}") for n in range(count)]
    return [Interaction(user_id=user, query=f"{words} question {n}", options=[picks[n][0], picks[n][1]],
                        ground_truth=picks[n][0], timestamp=start + n,
                        feedback="hanafeedback was great" if user == "u-hana" and n == 0 else None)
            for n in range(count)]


def newcomer_history(count: int, start: float = T0 + 500) -> list[Interaction]:
    return [Interaction(user_id=NEWCOMER, query=f"{OWN_WORDS} which {n}", options=["gaiters", "poles"],
                        ground_truth="gaiters", timestamp=start + n) for n in range(count)]


@pytest.fixture
def crowd(memory):
    items = []
    for n, (user, words) in enumerate(FIRST_WORDS.items()):
        items += history(user, words, T0 + 20 * n, picks=PICKS.get(user, ()))
    items += history("u-max", OWN_WORDS, T0 + 300)  # hiking only after ten cooking questions
    items += history("u-olga", OWN_WORDS, T0 + 400, count=3)
    items += newcomer_history(3)
    memory.episodes.add(items)
    for user, text in PROFILES.items():
        memory.profiles.save(user, text, source="summary")
    return memory


def model() -> ScriptedChatModel:
    return ScriptedChatModel(script=persona_agent_script("gaiters", profile="likes gaiters"))


def test_the_users_whose_first_interactions_share_most_with_the_newcomers_are_chosen(crowd):
    chosen = nearest(crowd, NEWCOMER, BELOW, k=5)
    assert [n.user_id for n in chosen] == ["u-hana", "u-ivan", "u-jon"]  # cooks and max share nothing early on
    assert chosen[0].similarity > chosen[1].similarity > chosen[2].similarity >= neighbours.MIN_SIMILARITY
    assert [n.user_id for n in nearest(crowd, NEWCOMER, BELOW, k=2)] == ["u-hana", "u-ivan"]
    assert "u-olga" not in {n.user_id for n in nearest(crowd, "u-hana", BELOW, k=9)}  # too new to lend
    assert nearest(crowd, "nobody", BELOW) == []
    with pytest.raises(ValueError, match="below >= 1"):
        nearest(crowd, NEWCOMER, 0)


def test_only_what_several_neighbours_share_is_borrowed_and_never_their_words(crowd):
    crowd.refresh_profile(NEWCOMER, model(), cold_start_below=BELOW)
    persona = crowd.current_persona(NEWCOMER)
    body = section(persona.text, TITLE)
    assert body.startswith("Aggregated from 3 users") and persona.extra["borrowed"] == 3
    assert "trail runners (3 of 3)" in body and "wool socks (2 of 3)" in body and "merino layers (2 of 3)" in body
    assert "Avoided by several of them: flip flops (3 of 3), cotton socks (2 of 3)." in body
    for only_one in ("sandals", "clogs", "heavy packs", "pasta", "hanapick", "jonskip"):
        assert only_one not in persona.text
    for private in PRIVATE:
        assert private not in persona.text
    assert section(persona.text, "What you know about this user") == "- requests: likes gaiters"


def test_the_newcomer_never_retrieves_a_neighbours_episodes_and_their_prompt_holds_none(crowd, context_for):
    crowd.refresh_profile(NEWCOMER, model(), cold_start_below=BELOW)
    found = crowd.episodes.search(NEWCOMER, "hiking trail boots hanaquery ivanquery", k=50)
    assert {i.user_id for i in found} == {NEWCOMER} and len(found) == 3
    answering = model()
    graph = build_agent_graph(Resources(memory=crowd, agent_model=answering)).compile()
    graph.invoke({"messages": [HumanMessage("hiking trail boots hanaquery: what next?")]},
                 context=context_for(NEWCOMER, max_tool_rounds=0))
    [call] = answering_calls(answering)
    seen = "\n".join(str(m.content) for m in call["messages"])
    assert "trail runners (3 of 3)" in seen  # the borrowed section reached the prompt
    for private in PRIVATE[1:]:
        assert private not in seen
    assert seen.count("hanaquery") == 1  # the newcomer's own request, nothing retrieved of hana's


def test_ratings_are_borrowed_as_means_and_categories_several_neighbours_share(memory):
    rated = []
    for n, user in enumerate(("u-r1", "u-r2")):
        for m, (title, genre, value) in enumerate([("Heat", "Drama", 5), ("Ran", "Drama", 5), ("Ikiru", "Drama", 3),
                                                   ("Saw", "Horror", 1), ("Hush", "Horror", 2), ("It", "Horror", 2)]):
            rated.append(Interaction(user_id=user, query=f'{user[2:]}secret: how would you rate "{title}"?',
                                     ground_truth=str(value), scale={"low": 1, "high": 5, "step": 1},
                                     metadata={"genres": genre}, timestamp=T0 + 10 * n + m))
    memory.episodes.add(rated)
    body = borrowed_section(memory, [Neighbour("u-r1", 0.9), Neighbour("u-r2", 0.8)])
    assert "- Their ratings average 3.00 on the 1–5 scale (2 of 2)." in body
    assert "- They rate above their own mean: Drama (2 of 2)." in body
    assert "- They rate below their own mean: Horror (2 of 2)." in body
    assert "heat (2 of 2), ran (2 of 2)" in body and "saw (2 of 2)" in body  # from the rated titles
    assert "ikiru" not in body and "r1secret" not in body and "r2secret" not in body


def test_one_neighbour_lends_nothing_and_a_user_with_enough_history_borrows_nothing(crowd):
    assert borrowed_section(crowd, [Neighbour("u-hana", 0.9)]) == ""
    crowd.refresh_profile("u-kai", model(), cold_start_below=BELOW)  # kai has ten: not cold
    assert section(crowd.current_persona("u-kai").text, TITLE) is None


def test_the_borrowed_section_goes_once_the_newcomers_own_history_reaches_the_threshold(crowd):
    crowd.refresh_profile(NEWCOMER, model(), cold_start_below=BELOW)
    assert section(crowd.current_persona(NEWCOMER).text, TITLE) is not None
    crowd.episodes.add(newcomer_history(BELOW, start=T0 + 600)[3:])  # 3 + 7 = 10 labelled
    crowd.refresh_profile(NEWCOMER, model(), cold_start_below=BELOW)
    persona = crowd.current_persona(NEWCOMER)
    assert section(persona.text, TITLE) is None and persona.source == "initial" and persona.extra["borrowed"] == 0


def test_a_persona_not_built_from_the_profile_loses_only_the_borrowed_section(crowd):
    crowd.refresh_profile(NEWCOMER, model(), cold_start_below=BELOW)
    seeded = crowd.current_persona(NEWCOMER)
    edited = crowd.personas.save(NEWCOMER, seeded.text + "\n- Keep answers short.", source="manual",
                                 parent=seeded.version)
    crowd.refresh_profile(NEWCOMER, model(), cold_start_below=BELOW)  # still cold: kept
    assert crowd.current_persona(NEWCOMER).version == edited.version
    crowd.episodes.add(newcomer_history(BELOW, start=T0 + 600)[3:])
    crowd.refresh_profile(NEWCOMER, model(), cold_start_below=BELOW)
    persona = crowd.current_persona(NEWCOMER)
    assert persona.source == "own_history" and persona.parent == edited.version
    assert section(persona.text, TITLE) is None and "- Keep answers short." in persona.text


def test_refresh_without_a_threshold_borrows_nothing(crowd):
    crowd.refresh_profile(NEWCOMER, model())
    assert section(crowd.current_persona(NEWCOMER).text, TITLE) is None
    with pytest.raises(ValueError, match="0 \\(off\\) or more"):
        crowd.refresh_profile(NEWCOMER, model(), cold_start_below=-1)


def test_ingest_seeds_a_newcomer_and_persona_show_says_where_each_part_came_from(crowd, tmp_path, monkeypatch,
                                                                                 capsys):
    import personaagent.cli.memory as commands

    scripted = model()
    monkeypatch.setenv("PERSONAAGENT_COLD_START_BELOW", "10")  # off by default; the server turns it on
    monkeypatch.setattr(commands, "store_of", lambda args: crowd)
    monkeypatch.setattr(Resources, "agent_model_for", lambda self, ctx: scripted)
    monkeypatch.setattr(Resources, "optimizer_model_for", lambda self, ctx: scripted)
    lines = [{"query": f"{OWN_WORDS} pick {n}", "options": ["gaiters", "poles"], "ground_truth": "gaiters",
              "timestamp": T0 + 900 + n} for n in range(2)]
    path = tmp_path / "zoe.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert main(["--home", str(tmp_path), "ingest", "--user", "zoe", str(path)]) == 0
    out = capsys.readouterr().out
    assert "it borrows what 3 similar users share until zoe has 10 labelled interactions" in out
    assert main(["--home", str(tmp_path), "persona", "show", "--user", "zoe"]) == 0
    shown = capsys.readouterr().out
    assert f"#   {TITLE}: aggregated from 3 similar users' profiles and histories (who they are is not shown)" in shown
    assert "#   What you know about this user: this user's profile, summarised from their own history" in shown
    assert "#   Lookups before answering: the lookup rules" in shown
    for private in PRIVATE:
        assert private not in shown


def test_cold_start_is_off_unless_the_server_turns_it_on(monkeypatch):
    monkeypatch.delenv("PERSONAAGENT_COLD_START_BELOW", raising=False)
    assert Context(user_id="zoe").cold_start_below == 0
    monkeypatch.setenv("PERSONAAGENT_COLD_START_BELOW", "10")
    assert Context(user_id="zoe").cold_start_below == 10


def test_the_optimizer_may_prune_the_borrowed_section_but_never_edits_it():
    persona = replace_section(initial_persona("kim", "- gear: likes maps"), TITLE,
                              "Aggregated from 2 users\n- Liked by several of them: a (2 of 2).\n"
                              "- Avoided by several of them: b (2 of 2).\n- Their ratings average 4.00 on the 1–5 scale.")
    proposal = Proposal(persona=persona, critique="", misses=[], history=[], similar=lambda text, k: [], model=None,
                        retry=None, max_chars=2400, max_examples=2)
    candidate, _, _ = prune(proposal)
    assert section(candidate.persona, TITLE) is None and candidate.note == f"dropped {TITLE}"
    edited, applied = apply_edits(persona, [Edit(action="add", section=TITLE, text="likes c")])
    assert applied == [] and edited == persona


def test_what_every_users_first_requests_share_does_not_make_them_alike(memory):
    # 24 users ask in the same wording about films of their own; only u-a's share the newcomer's
    template = "how would I rate the movie called {} on a scale from one to five please"
    films = {f"u-{c}": f"{c}film{c}" for c in "abcdefghijklmnopqrstuvwx"}
    films["u-a"] = "dune arrival"
    items = [Interaction(user_id=user, query=template.format(f"{film} {n}"), ground_truth="4", timestamp=T0 + n,
                         scale={"low": 1, "high": 5, "step": 1}) for user, film in films.items() for n in range(BELOW)]
    items += [Interaction(user_id=NEWCOMER, query=template.format(f"dune arrival {n}"), ground_truth="5",
                          timestamp=T0 + 100 + n, scale={"low": 1, "high": 5, "step": 1}) for n in range(3)]
    memory.episodes.add(items)
    means = {m.user_id: m.vector for m in memory.episodes.early_means(BELOW)}
    assert len(means) >= neighbours.CENTRE_FROM
    raw = sorted(neighbours._cosine(means[NEWCOMER], means[u]) for u in films if u != "u-a")
    assert raw[0] > 0.5  # as they are, everyone resembles the newcomer
    chosen = nearest(memory, NEWCOMER, BELOW, k=5)
    assert chosen[0].user_id == "u-a" and chosen[0].similarity > 0.5
    assert [n.user_id for n in chosen] == ["u-a"]  # the others share only the wording: below the floor


@pytest.mark.parametrize("below", [BELOW, 0])
def test_a_newcomer_who_only_chats_borrows_after_a_few_turns_when_cold_start_is_on(crowd, context_for, below):
    crowd.forget_user(NEWCOMER)  # nina arrives with nothing and chats
    graph = build_agent_graph(Resources(memory=crowd, agent_model=model())).compile()
    context = context_for(NEWCOMER, max_tool_rounds=0, profile_every=10, cold_start_below=below)
    for n in range(neighbours.COLD_REFRESH_EVERY):
        assert section(crowd.current_persona(NEWCOMER).text, TITLE) is None
        graph.invoke({"messages": [HumanMessage(f"{OWN_WORDS} which {n}?")], "answer_options": ["gaiters", "poles"],
                      "ground_truth": "gaiters"}, context=context)
    body = section(crowd.current_persona(NEWCOMER).text, TITLE)
    if below:
        assert body.startswith("Aggregated from 3 users") and "trail runners (3 of 3)" in body
    else:  # off: no refresh before profile_every turns, nothing borrowed
        assert body is None and crowd.profiles.latest(NEWCOMER) is None
