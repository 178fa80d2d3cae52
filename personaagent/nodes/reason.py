"""reason: the chat model, steered by the persona, with the personalized tools bound.

The first step of every turn forces a ``search_history`` call (the embedded model never calls a
tool under ``tool_choice="auto"``); later steps may call tools freely until ``max_tool_rounds``,
after which the model must answer. Tool results of the current turn reach the model inside the
system prompt (see ``messages.conversation``).
"""

from __future__ import annotations

from langchain_core.messages import SystemMessage
from langchain_core.tools import BaseTool
from langgraph.runtime import Runtime

from .. import prompts
from ..context import Context
from ..errors import ModelReplyError
from ..graphs.state import AgentState
from ..memory.episodic import Interaction
from ..resources import Resources
from ..tools import HISTORY_TOOL, network_available
from ..tools.personal import format_memories
from .messages import conversation, tool_rounds, turn_tool_results


def system_prompt(state: AgentState) -> str:
    items = [Interaction(**m) for m in state.get("retrieved", [])]
    prompt = prompts.REASON_SYSTEM.format(
        persona=state["persona"],
        memories=format_memories(items) if items else prompts.NO_MEMORIES,
        profile=state.get("profile") or "(no profile yet)",
    )
    results = turn_tool_results(state["messages"])
    if results:
        prompt += prompts.TOOL_RESULTS.format(
            results="\n\n".join(f"[{m.name}]\n{m.text}" for m in results)
        )
    return prompt


def usage_tokens(message) -> int:
    usage = getattr(message, "usage_metadata", None) or {}
    return int(usage.get("total_tokens", 0))


def offered_tools(tools: list[BaseTool]) -> list[BaseTool]:
    return [t for t in tools if t.name != "search_wikipedia" or network_available()]


def reason(state: AgentState, runtime: Runtime[Context], *, resources: Resources, tools: list[BaseTool]) -> dict:
    ctx = Context.of(runtime.context)
    model = resources.agent_model_for(ctx)
    rounds = tool_rounds(state["messages"])
    if rounds == 0:
        bound = model.bind_tools(offered_tools(tools), tool_choice=HISTORY_TOOL)
    elif rounds < ctx.max_tool_rounds:
        bound = model.bind_tools(offered_tools(tools))
    else:
        bound = model
    reply = bound.invoke([SystemMessage(system_prompt(state)), *conversation(state["messages"])])
    if not reply.tool_calls and reply.invalid_tool_calls:
        raise ModelReplyError(f"the model's tool call was malformed: {reply.invalid_tool_calls[0].get('error')}")
    if not reply.tool_calls and not reply.text.strip():
        raise ModelReplyError("the model returned an empty answer")
    return {"messages": [reply], "model_calls": 1, "tokens": usage_tokens(reply)}


def route_after_reason(state: AgentState) -> str:
    last = state["messages"][-1]
    return "tools" if getattr(last, "tool_calls", None) else "update_memory"
