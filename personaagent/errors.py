"""Exceptions with messages that name the problem. The CLI prints them and exits non-zero."""


class PersonaAgentError(Exception):
    """Base class of every error this library raises on purpose."""


class InvalidUserId(PersonaAgentError, ValueError):
    """A user id that is empty, too long, or not made of safe characters."""


class IngestError(PersonaAgentError, ValueError):
    """One or more lines of an ingest file are invalid; nothing was stored."""

    def __init__(self, source: str, problems: list[tuple[int, str]]):
        self.source = source
        self.problems = problems
        shown = "\n".join(f"  line {n}: {why}" for n, why in problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(
            f"{source}: {len(problems)} invalid line(s), nothing was stored:\n{shown}{more}"
        )


class LocalModelError(PersonaAgentError, RuntimeError):
    """The embedded local model cannot be prepared or started."""


class UnknownVersion(PersonaAgentError, LookupError):
    """A persona or profile version that does not exist for this user."""


class VersionConflict(PersonaAgentError, RuntimeError):
    """Another writer stored the version this write meant to store; this write stored nothing."""


class PersonaConflict(VersionConflict):
    """The stored persona changed while an optimization was running; its candidate was not stored."""


class InvalidInput(PersonaAgentError, ValueError):
    """A request the agent cannot take: empty, too long, or not valid text."""


class ModelReplyError(PersonaAgentError, RuntimeError):
    """The model's reply was unusable (empty, or not the structure asked for). Retried as transient."""


class ModelUnavailable(PersonaAgentError, RuntimeError):
    """A model endpoint kept failing through every retry of the one retry layer. Not transient:
    a node around the call does not redo it."""


class StoreUnavailable(PersonaAgentError, ConnectionError):
    """The Chroma server or the Postgres server cannot be reached."""
