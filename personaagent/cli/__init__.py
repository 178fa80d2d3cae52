"""The ``personaagent`` command line. Each command group lives in a module of its own; this one
builds the parser and maps failures to exit codes (0 done, 2 bad input or a named error, 3 the
model endpoint failed after retries). Importing it loads no store, model client or graph."""

from __future__ import annotations

import argparse
import sys

from ..errors import PersonaAgentError
from . import agent, evaluation, memory, migrate, optimize
from .common import model_failure


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="personaagent",
        description="Per-user evolving personas for LLM agents. Models: set PERSONAAGENT_BASE_URL / "
        "PERSONAAGENT_API_KEY / PERSONAAGENT_MODEL for an OpenAI-compatible endpoint; unset, the "
        "embedded local model is used.",
    )
    parser.add_argument("--home", help="data directory: Chroma store, chat threads, optimizer checkpoints "
                        "(default: $PERSONAAGENT_HOME or ~/.personaagent)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (agent, memory, optimize, evaluation, migrate):
        group.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PersonaAgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        message = model_failure(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
