"""API tokens of the LangGraph server: which bearer token belongs to which PersonaAgent user.

Configured through the environment, read when a request arrives (so a changed token file is
picked up without a restart):

- ``PERSONAAGENT_AUTH_TOKENS``: ``token=user`` pairs separated by commas;
- ``PERSONAAGENT_AUTH_TOKENS_FILE``: a JSON object ``{"token": "user", ...}``;
- ``PERSONAAGENT_AUTH=off``: no tokens, every request acts as any user. Only for a server that
  nobody else can reach (``langgraph dev`` on your own machine).
"""

from __future__ import annotations

import hmac
import json
from pathlib import Path

from .. import environment
from ..errors import PersonaAgentError
from ..ids import validate_user_id

OPEN = None  # the token table when auth is switched off


def _parse_pairs(text: str) -> dict[str, str]:
    table = {}
    for n, pair in enumerate(p.strip() for p in text.split(",")):
        if not pair:
            continue
        token, sep, user = pair.partition("=")
        if not sep or not token.strip() or not user.strip():
            raise PersonaAgentError(f"PERSONAAGENT_AUTH_TOKENS entry {n + 1} is not token=user")
        table[token.strip()] = user.strip()
    return table


def _read_file(path: str) -> dict[str, str]:
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PersonaAgentError(f"cannot read PERSONAAGENT_AUTH_TOKENS_FILE {path}: {exc}") from exc
    if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
        raise PersonaAgentError(f"PERSONAAGENT_AUTH_TOKENS_FILE {path} must hold a JSON object of token: user")
    return table


def token_table() -> dict[str, str] | None:
    """token → user id, or ``OPEN`` when auth is off. Raises when nothing is configured."""
    if environment.value("PERSONAAGENT_AUTH").lower() == "off":
        return OPEN
    table = _parse_pairs(environment.value("PERSONAAGENT_AUTH_TOKENS"))
    if path := environment.value("PERSONAAGENT_AUTH_TOKENS_FILE"):
        table |= _read_file(path)
    if not table:
        raise PersonaAgentError("no API tokens are configured: set PERSONAAGENT_AUTH_TOKENS (token=user,...) or "
                                "PERSONAAGENT_AUTH_TOKENS_FILE, or PERSONAAGENT_AUTH=off for a private dev server")
    for user in table.values():
        validate_user_id(user)
    return table


def user_for_token(table: dict[str, str], token: str) -> str | None:
    """The user of ``token``, comparing in constant time against every configured token."""
    found = None
    for known, user in table.items():
        if hmac.compare_digest(known.encode(), token.encode()):
            found = user
    return found
