"""The optimizer on its own, for an agent that is not PersonaAgent's."""

import pytest
from langchain_core.prompts import ChatPromptTemplate

from personaagent import OptimizedPersona, PersonaAgentError, optimize_persona
from personaagent.testing import HashEmbeddingFunction, ScriptedChatModel, persona_agent_script

SAMPLES = [{"query": f"Trip {n}: beach or museum?", "ground_truth": "museum"} for n in range(4)]


def my_agent(persona: str, query: str) -> str:
    """Someone's own agent: it follows the persona when the persona names a preference."""
    return "museum" if "museum" in persona.lower() else "beach"


def contains_truth(sample, answer):
    hit = sample["ground_truth"] in answer
    return (1.0 if hit else 0.0, "right" if hit else f"said {answer}, the user wanted {sample['ground_truth']}")


def optimizer_model(*rewrites):
    """The optimizer's own model: a fixed critique, then the section rewrites in order."""
    return ScriptedChatModel(script=persona_agent_script("unused", critique="- (opening): the user prefers culture to sun.",
                                                         rewrite=list(rewrites)))


SECTION_ONLY = {"validation_size": 1, "operators": ["section"], "candidates": 1}


def test_a_persona_for_your_own_agent_improves_and_keeps_no_tool_rules():
    model = optimizer_model("You help a traveller who prefers a museum to a beach.")
    result = optimize_persona("You are a travel assistant.", SAMPLES, my_agent, contains_truth, model,
                              settings=SECTION_ONLY, embedder=HashEmbeddingFunction())
    assert isinstance(result, OptimizedPersona) and result.improved
    assert result.persona == "- You help a traveller who prefers a museum to a beach."
    assert "## Lookups" not in result.persona
    curve = result.summary["loss_curve"]
    assert [p["outcome"] for p in curve] == ["baseline", "accepted"]
    assert (curve[0]["loss"], curve[1]["loss"], curve[0]["validation_loss"]) == (1.0, 0.0, 1.0)
    # the critique saw the hook's feedback, and the validation sample stayed out of it
    critique_input = next(c for c in model.calls if "Misses, worst first" in c["messages"][1].content)
    text = critique_input["messages"][1].content
    assert "said beach, the user wanted museum" in text and "Trip 0" not in text


def test_a_worse_rewrite_leaves_the_given_persona():
    model = optimizer_model("You like sunshine.")
    result = optimize_persona("You are a travel assistant.", SAMPLES, my_agent, contains_truth, model,
                              settings={**SECTION_ONLY, "max_iters": 1}, embedder=HashEmbeddingFunction())
    assert not result.improved and result.persona == "You are a travel assistant."
    assert result.summary["stop_reason"] == "max_iters" and result.summary["rejected"] == 1


def test_a_runnable_agent_gets_persona_and_query():
    seen = []
    chain = ChatPromptTemplate.from_messages([("system", "{persona}"), ("human", "{query}")]) | ScriptedChatModel(
        script=lambda messages, kw: seen.append(messages) or my_agent(messages[0].content, messages[1].content))
    result = optimize_persona("Travel help.", SAMPLES[:2], chain, contains_truth,
                              optimizer_model("This traveller always picks the museum."),
                              settings={"operators": ["section"], "candidates": 1}, embedder=HashEmbeddingFunction())
    assert result.improved and seen[0][0].content == "Travel help." and seen[0][1].content.startswith("Trip")


@pytest.mark.parametrize("persona, samples, metric, settings, message", [
    ("", SAMPLES, contains_truth, {}, "persona to optimize is empty"),
    ("p", [{"query": "q"}], contains_truth, {}, "interaction 1 has no ground_truth"),
    ("p", [], contains_truth, {}, "at least one labelled interaction"),
    ("p", SAMPLES, contains_truth, {"batch_size": 0}, "invalid optimizer settings: batch_size"),
    ("p", SAMPLES, lambda s, a: 0.5, {}, "must return (score, feedback)"),
    ("p", SAMPLES, lambda s, a: (3, "x"), {}, "score must lie in [0, 1]"),
])
def test_bad_input_is_named(persona, samples, metric, settings, message):
    with pytest.raises(PersonaAgentError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        optimize_persona(persona, samples, my_agent, metric, optimizer_model("x"), settings=settings,
                         embedder=HashEmbeddingFunction())
