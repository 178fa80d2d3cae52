"""PersonaAgent inside other LangChain / LangGraph apps.

- As a node: ``build_agent_graph().compile()`` is a graph with a ``messages`` channel; add it to
  your own ``StateGraph`` like any node. It runs for the ``user_id`` of your graph's runtime context.
- As a tool: ``assistant_tool()`` wraps the agent graph with ``Runnable.as_tool`` for a LangChain
  agent (``langchain.agents.create_agent``): the outer agent asks in plain text and gets the
  personal assistant's answer. The user again comes from the outer agent's runtime context (a
  dataclass, pydantic model or dict with a ``user_id``), never from the outer model's arguments.
"""

from __future__ import annotations

import warnings

from langchain_core.messages import HumanMessage
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.tools import BaseTool
from pydantic import BaseModel, Field

from ..graphs.agent import build_agent_graph
from ..resources import Resources


class AskAssistant(BaseModel):
    request: str = Field(description="The user's request, in their words, for their personal assistant")


def assistant_tool(
    graph: Runnable | None = None,
    resources: Resources | None = None,
    *,
    name: str = "ask_personal_assistant",
    description: str = "Ask the user's personal assistant, which knows their history, tastes and persona, "
    "to answer a request the way this user would want it answered.",
) -> BaseTool:
    """The agent graph (``graph``, or one built over ``resources``) as a LangChain tool."""
    agent = graph or build_agent_graph(resources).compile()
    ask = (RunnableLambda(lambda args: {"messages": [HumanMessage(args["request"])]}, name="to_agent_input")
           | agent | RunnableLambda(lambda out: out["answer"], name="answer"))
    with warnings.catch_warnings():  # as_tool is marked beta in langchain-core; the pinned version is tested
        warnings.filterwarnings("ignore", message="This API is in beta")
        return ask.as_tool(args_schema=AskAssistant, name=name, description=description)
