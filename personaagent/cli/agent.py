"""Commands that talk to the agent: ``demo``, ``ask``, ``chat``."""

from __future__ import annotations

from ..errors import PersonaAgentError
from .common import context_of, home


def cmd_demo(args) -> int:
    from dataclasses import replace

    from ..persona.settings import OptimizerSettings
    from ..services.demo import FIRST_LOOK, FULL, SAMPLE_USERS, run_demo

    plan = FULL if args.full else FIRST_LOOK
    if args.users:
        users = tuple(u.strip() for u in args.users.split(",") if u.strip())
        unknown = set(users) - set(SAMPLE_USERS)
        if unknown or not users:
            raise PersonaAgentError(f"unknown sample user(s) {sorted(unknown)}; choose from {list(SAMPLE_USERS)}")
        plan = replace(plan, users=users)
    if args.questions is not None:
        if args.questions < 1:
            raise PersonaAgentError(f"--questions must be at least 1 (got {args.questions})")
        plan = replace(plan, questions=args.questions)
    if args.optimize_iters is not None:
        plan = replace(plan, optimizer=OptimizerSettings.of(plan.optimizer, max_iters=args.optimize_iters))
    run_demo(home(args), plan)
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
    demo = sub.add_parser("demo", help="a first look: a sample user's persona, answers and one optimization",
                          description="Ingest a sample user's 20 labelled interactions and an item catalogue into a "
                          "fresh store under HOME/demo, summarise a profile and show the initial persona, answer new "
                          "questions through the agent graph (showing retrieved memories, lookups and each answer's "
                          "distribution over its options), run one optimizer iteration, print the loss before and "
                          "after and what changed in the persona, and ask the questions again if it changed. By "
                          "default: maya, 1 question, the optimizer on her 2 latest labelled interactions (batch 1, "
                          "validation 1) with 1 candidate. --full: maya, omar and lena, 3 questions each, the "
                          "optimizer's default batch 3, validation 8 and 2 candidates.")
    demo.add_argument("--full", action="store_true",
                      help="the three sample users at the optimizer's default sizes (several times longer)")
    demo.add_argument("--users", help="comma-separated subset of maya,omar,lena (default: maya; with --full all three)")
    demo.add_argument("--questions", type=int, help="questions per user; each user has 3 (default: 2; with --full 3)")
    demo.add_argument("--optimize-iters", type=int,
                      help="optimizer iterations per user (0: skip the optimizer; default 1)")
    demo.set_defaults(func=cmd_demo)

    chat = sub.add_parser("chat", help="chat with the agent as a user (threads persist)",
                          description="Interactive chat. Commands: /right TEXT records what you "
                          "really wanted for the last turn; /feedback TEXT records feedback on it; "
                          "/persona shows the current persona with your stated preferences numbered; "
                          "/forget N drops stated preference N from it; /quit leaves.")
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
