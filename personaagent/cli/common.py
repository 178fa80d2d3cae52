"""What every command shares: the data directory, the run's Context (resolved once, here) and the
store it points at, and how a failed model endpoint is reported."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path


def home(args) -> Path:
    """The data directory: ``--home``, else ``$PERSONAAGENT_HOME``, else ``~/.personaagent``."""
    from ..context import default_home

    return Path(args.home) if args.home else default_home()


def context_of(args, user: str | None = None, **fields):
    """The Context a command runs under: the user (validated), the Chroma directory under
    ``home`` unless one is configured, and ``fields``; everything else from the environment."""
    from ..context import Context
    from ..ids import validate_user_id

    user = user if user is not None else getattr(args, "user", None)
    context = Context(user_id=validate_user_id(user) if user is not None else "default", **fields)
    return context if context.chroma_path or context.chroma_host else replace(context, chroma_path=str(home(args) / "chroma"))


def store_of(args):
    from ..memory import memory_for

    return memory_for(context_of(args))


def model_failure(exc: BaseException) -> str | None:
    """A message for a model endpoint that failed (after retries), or None for other errors."""
    import openai

    from ..models.resilience import is_transient

    if not (is_transient(exc) or isinstance(exc, openai.APIError)):
        return None
    request = getattr(exc, "request", None)
    where = f" at {request.url}" if request is not None else ""
    return f"the model endpoint{where} failed: {type(exc).__name__}: {exc}"
