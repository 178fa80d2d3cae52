"""reason: one model call that answers the request, steered by the persona.

The system prompt is the persona, then the profile, then what was retrieved and looked up for
this request (stable parts first, so a server can reuse the prompt's prefix). A closed-form
request (options or a rating scale) is answered from the model's token distribution
(``answers.decode``). A free-text request gets a generated answer; tools are bound only when the
model may call them on its own (``Context.max_tool_rounds``), which the embedded model never does.
"""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.tools import BaseTool

from .. import prompts
from ..answers.closed_form import decode_orders, weigh
from ..context import Context
from ..state import AgentState
from ..memory.episodic import Interaction
from ..persona.sections import available_lookups, for_prompt
from ..models.resilience import usable_reply
from ..resources import Resources
from ..tools.sources import format_memories
from ..web import network_available
from .messages import conversation, request_spec, tool_rounds, turn_tool_results

SOURCE_BLOCKS = (  # source → (block title, tag), in prompt order
    ("profile", "This user's profile", "profile"),
    ("history", "Retrieved from this user's history", "history"),
    ("knowledge", "From this user's knowledge collection", "knowledge"),
    ("web", "From the web", "web"),
)


def system_prompt(state: AgentState, tools_bound: bool = False) -> str:
    items = [Interaction(**m) for m in state.get("retrieved", [])]
    found = {**(state.get("sources") or {}), "history": format_memories(items) if items else prompts.NO_MEMORIES}
    prompt = for_prompt(state["persona"], available_lookups(), tools_bound)
    for source, title, tag in SOURCE_BLOCKS:
        if source in found:
            prompt += prompts.DATA_BLOCK.format(title=title, tag=tag, body=found[source])
    results = turn_tool_results(state["messages"])
    if results:
        prompt += prompts.TOOL_RESULTS.format(results="\n\n".join(f"[{m.name}]\n{m.text}" for m in results))
    return prompt


def usage_tokens(message) -> int:
    usage = getattr(message, "usage_metadata", None) or {}
    return int(usage.get("total_tokens", 0))


def offered_tools(tools: list[BaseTool]) -> list[BaseTool]:
    return [t for t in tools if t.name != "search_wikipedia" or network_available()]


def _closed_form(state: AgentState, model, spec, retry, orders: int) -> dict:
    dialogue = conversation(state["messages"])
    last = max(i for i, m in enumerate(dialogue) if isinstance(m, HumanMessage))
    system = SystemMessage(system_prompt(state))

    def messages_for(shown):  # the same prompt, the options in the order ``shown`` lists them
        return [system, *dialogue[:last], HumanMessage(shown.render(dialogue[last].text)), *dialogue[last + 1:]]

    answer, replies = decode_orders(model, messages_for, spec, orders, retry)
    if state.get("option_fit"):  # what check_stated found against what the user said
        answer = weigh(answer, state["option_fit"])
    return {"messages": [AIMessage(answer.answer)], "answer_distribution": answer.distribution,
            "answer_orders": answer.extra.get("orders"), "answer_path": answer.path, "answer_truncated": False,
            "rating": None if answer.median is None else {"median": answer.median, "mean": answer.mean},
            "model_calls": len(replies), "tokens": sum(usage_tokens(r) for r in replies)}


def reason(state: AgentState, ctx: Context, resources: Resources, *, tools: list[BaseTool]) -> dict:
    model = resources.agent_model_for(ctx)
    spec = request_spec(state)
    if spec is not None:
        return _closed_form(state, model, spec, resources.retry, ctx.option_orders)
    may_call = tool_rounds(state["messages"]) < resources.tool_rounds_for(ctx)
    bound = model.bind_tools(offered_tools(tools)) if may_call else model
    reply = usable_reply(bound, resources.retry).invoke(
        [SystemMessage(system_prompt(state, may_call)), *conversation(state["messages"])])
    # an answer cut off by the token limit is kept, and says so (a retry would be cut off again)
    truncated = not reply.tool_calls and (reply.response_metadata or {}).get("finish_reason") == "length"
    return {"messages": [reply], "answer_distribution": None, "answer_orders": None, "answer_path": "generated",
            "rating": None,
            "answer_truncated": truncated, "model_calls": 1, "tokens": usage_tokens(reply)}


def route_after_reason(state: AgentState) -> str:
    last = state["messages"][-1]
    return "tools" if getattr(last, "tool_calls", None) else "update_memory"
