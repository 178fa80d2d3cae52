"""Memory URLs: which ones name a Postgres database, and how to show one without its password."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from ...errors import PersonaAgentError

SCHEMES = ("postgresql", "postgres")


def is_postgres_url(url: str, strict: bool = False) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL; with ``strict``, anything else
    raises an error that says what was expected."""
    scheme = urlsplit(url.strip()).scheme.lower() if "://" in url else ""
    if scheme in SCHEMES:
        return True
    if strict:
        raise PersonaAgentError(f"the memory URL {redacted(url)!r} is not a postgresql:// URL "
                                "(PERSONAAGENT_MEMORY: postgresql://USER:PASSWORD@HOST:PORT/DATABASE, "
                                "or empty for the Chroma store)")
    return False


def redacted(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
