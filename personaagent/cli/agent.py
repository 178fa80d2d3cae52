"""Commands that talk to the agent: ``demo``, ``ask``, ``chat``."""

from __future__ import annotations

from ..errors import PersonaAgentError
from .common import context_of, home


def cmd_demo(args) -> int:
    from ..services.demo import SAMPLE_USERS, run_demo

    users = tuple(u.strip() for u in args.users.split(",") if u.strip()) if args.users else SAMPLE_USERS
    unknown = set(users) - set(SAMPLE_USERS)
    if unknown:
        raise PersonaAgentError(f"unknown sample user(s) {sorted(unknown)}; choose from {list(SAMPLE_USERS)}")
    run_demo(home(args), users, args.questions, optimize_iters=args.optimize_iters)
    return 0


def _scale(text: str) -> dict[str, float]:
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        raise PersonaAgentError(f"--scale takes LOW,HIGH or LOW,HIGH,STEP numbers (got {text!r})") from None
    if len(parts) not in (2, 3):
        raise PersonaAgentError(f"--scale takes LOW,HIGH or LOW,HIGH,STEP (got {text!r})")
    return dict(zip(("low", "high", "step"), parts))


def cmd_ask(args) -> int:
    from langchain_core.messages import HumanMessage

    from ..graphs.agent import build_agent_graph
    from ..resources import Resources

    inputs = {"messages": [HumanMessage(args.request)], "answer_options": args.option or None,
              "rating_scale": _scale(args.scale) if args.scale else None}
    if args.right is not None:
        inputs["ground_truth"] = args.right
    out = build_agent_graph(Resources()).compile().invoke(inputs, context=context_of(args))
    print(out["answer"])
    if out.get("answer_distribution"):
        shown = ", ".join(f"{k}: {p:.2f}" for k, p in out["answer_distribution"].items())
        print(f"  ({out['answer_path']}: {shown})")
    if out.get("answer_truncated"):
        print("  (the answer was cut off at the model's token limit)")
    return 0


def cmd_chat(args) -> int:
    from ..services.chat import run_chat

    return run_chat(context_of(args, optimize_every=args.optimize_every), home(args), thread=args.thread)


def add_commands(sub) -> None:
    demo = sub.add_parser("demo", help="ingest three sample users and answer questions for each",
                          description="Ingest three sample users with different tastes into a fresh "
                          "store under HOME/demo, show each initial persona, answer new questions through "
                          "the agent graph (showing retrieved memories, lookups and each answer's "
                          "distribution over the options), optimize each persona, and answer the same "
                          "questions again.")
    demo.add_argument("--users", help="comma-separated subset of maya,omar,lena (default: all three)")
    demo.add_argument("--questions", type=int, default=3, help="questions per user (default: 3)")
    demo.add_argument("--optimize-iters", type=int, default=1,
                      help="optimizer iterations per user before the questions are asked again (0: skip; default 1)")
    demo.set_defaults(func=cmd_demo)

    chat = sub.add_parser("chat", help="chat with the agent as a user (threads persist)",
                          description="Interactive chat. Commands: /right TEXT records what you "
                          "really wanted for the last turn; /feedback TEXT records feedback on it; "
                          "/persona shows the current persona; /quit leaves.")
    chat.add_argument("--user", required=True, help="user id")
    chat.add_argument("--thread", help="thread id to continue (default: the user id)")
    chat.add_argument("--optimize-every", type=int, default=0, metavar="K",
                      help="optimize the persona in the background after K new labelled turns (default: off)")
    chat.set_defaults(func=cmd_chat)

    ask = sub.add_parser("ask", help="ask the agent one question as a user",
                         description="One turn of the agent graph for a user: retrieval, persona, lookups, "
                         "answer; the interaction is stored in their memory. With --option (repeated) or "
                         "--scale the answer is read from the model's token distribution, which is printed.")
    ask.add_argument("--user", required=True, help="user id")
    ask.add_argument("request", help="the question or request")
    ask.add_argument("--option", action="append", metavar="TEXT", help="an answer option (repeat for each option)")
    ask.add_argument("--scale", metavar="LOW,HIGH[,STEP]", help="ask for a rating on this scale (e.g. 0.5,5,0.5)")
    ask.add_argument("--right", metavar="TEXT", help="what the user really wanted (stores a labelled interaction)")
    ask.set_defaults(func=cmd_ask)
