"""check_stated: when ``Context.check_options`` is on, check each option of a choice against what the user stated
(``persona.stated``: the statements the persona shows for this request). One yes/no call per
option, read from the first token, asks whether the option is consistent with them; ``reason``
then weighs each option's probability by that (``answers.closed_form.weigh``). Each
option is judged on its own, so its letter plays no part. No statements, no options: no call.
"""

from __future__ import annotations

from langchain_core.messages import HumanMessage, SystemMessage

from .. import prompts
from ..answers.closed_form import two_way_probability
from ..context import Context
from ..persona.stated import statements
from ..resources import Resources
from ..state import AgentState
from .messages import current_query, request_spec


def check_stated(state: AgentState, ctx: Context, resources: Resources) -> dict:
    spec = request_spec(state)
    told = statements(state["persona"]) if ctx.check_options and spec is not None and spec.options else []
    if not told:
        return {"option_fit": None}
    model = resources.agent_model_for(ctx)
    listed = "\n".join(f'- "{s.text}"' for s in told)
    request = prompts.quote(current_query(state["messages"]))
    fit = {}
    for option in spec.options:
        ask = [SystemMessage(prompts.CHECK_INSTRUCTION),
               HumanMessage(prompts.CHECK_INPUT.format(statements=listed, request=request, option=prompts.quote(option)))]
        fit[option] = round(two_way_probability(model, ask, retry=resources.retry), 6)
    return {"option_fit": fit, "model_calls": len(spec.options)}
