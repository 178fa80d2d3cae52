"""Authentication and authorization of the LangGraph server (``langgraph.json`` → ``auth``).

A request carries ``Authorization: Bearer <token>``; the token names one PersonaAgent user
(``server.tokens``). That user may only:

- run the graphs for themselves: a run's ``context.user_id`` must be their own id (memory,
  profile and persona are reached only through runs, so this fences them);
- see, change and run threads they created (threads are tagged with an ``owner``);
- create and change assistants that carry no user-specific settings (no ``user_id``, no
  ``persona``): assistants are shared by every user of the server, so one user's assistant can
  neither show another user their persona nor steer their runs with it;
- touch the LangGraph store under their own namespace.

A request may set only the ``Context`` fields named in ``REQUEST_FIELDS``; every other field
(model endpoints, keys and model names, which bill the server's account; where Chroma lives; and
any field added later until it is put on that list) is the server's. Scheduled runs
(crons) are not offered to token users.
With ``PERSONAAGENT_AUTH=off`` every request is the developer, who may act as any user.
"""

from __future__ import annotations

import asyncio
from dataclasses import fields
from typing import Any

from langgraph_sdk import Auth

from ..context import Context
from ..errors import PersonaAgentError
from .tokens import OPEN, token_table, user_for_token

ANY_USER = "personaagent:any-user"
# The Context fields a request may set: who the run is for and how this user's agent behaves.
REQUEST_FIELDS = frozenset({
    "user_id", "persona", "temperature", "top_k", "statements_shown", "profile_every", "optimize_every", "option_orders",
    "check_options", "max_tool_rounds", "recency_half_life_days",
})
# Every other Context field is the server's: it points at infrastructure, chooses what the
# server's key pays for, or (cold_start_below) decides how long users' data seeds a newcomer's persona.
SERVER_FIELDS = frozenset(f.name for f in fields(Context)) - REQUEST_FIELDS
# Context fields that belong to one user; a shared assistant must not carry them.
USER_FIELDS = frozenset({"user_id", "persona"})

auth = Auth()


def _deny(status: int, detail: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(status_code=status, detail=detail)


@auth.authenticate
async def authenticate(authorization: str | None) -> Auth.types.MinimalUserDict:
    try:
        table = await asyncio.to_thread(token_table)  # may read a token file: off the event loop
    except PersonaAgentError as exc:
        raise _deny(401, str(exc)) from exc
    if table is OPEN:
        return {"identity": "local-developer", "permissions": [ANY_USER]}
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _deny(401, "missing credentials: send Authorization: Bearer <token>")
    user = user_for_token(table, token.strip())
    if user is None:
        raise _deny(401, "unknown API token")
    return {"identity": user, "permissions": []}


def _unrestricted(ctx: Auth.types.AuthContext) -> bool:
    return ANY_USER in ctx.permissions


def _owned(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, str]:
    """Tag what is being created with its owner; the filter limits every other action to it."""
    owner = {"owner": ctx.user.identity}
    if ctx.action in ("create", "create_run"):
        if value.get("metadata") is None:
            value["metadata"] = {}
        value["metadata"].update(owner)
    return owner


def check_run_context(identity: str, context: dict[str, Any] | None, configurable: dict[str, Any] | None) -> None:
    """A run (or assistant) of ``identity`` must name them as its user and leave server fields alone."""
    settings = {**(configurable or {}), **(context or {})}
    if settings.get("user_id") != identity:
        raise _deny(403, f"this token acts for user {identity!r}: set context.user_id to {identity!r} "
                         f"(got {settings.get('user_id')!r})")
    if fixed := sorted(SERVER_FIELDS & settings.keys()):
        raise _deny(403, f"context fields {', '.join(fixed)} are set by the server, not by a request")


@auth.on.threads.create_run
async def on_run(ctx: Auth.types.AuthContext, value: Auth.types.on.threads.create_run.value):
    if _unrestricted(ctx):
        return None
    kwargs = value.get("kwargs") or {}
    check_run_context(ctx.user.identity, kwargs.get("context"), (kwargs.get("config") or {}).get("configurable"))
    return _owned(ctx, value)


def check_assistant_context(context: dict[str, Any] | None, configurable: dict[str, Any] | None) -> None:
    """An assistant a token user creates or changes holds shared settings only."""
    settings = {**(configurable or {}), **(context or {})}
    if personal := sorted(USER_FIELDS & settings.keys()):
        raise _deny(403, f"assistants are shared by every user of this server: context fields {', '.join(personal)} "
                         "belong to one user; set them on each run instead")
    if fixed := sorted(SERVER_FIELDS & settings.keys()):
        raise _deny(403, f"context fields {', '.join(fixed)} are set by the server, not by a request")


@auth.on.assistants.create
async def on_assistant_create(ctx: Auth.types.AuthContext, value: Auth.types.on.assistants.create.value):
    if _unrestricted(ctx):
        return None
    check_assistant_context(value.get("context"), (value.get("config") or {}).get("configurable"))
    return _owned(ctx, value)


@auth.on.assistants.update
async def on_assistant_update(ctx: Auth.types.AuthContext, value: Auth.types.on.assistants.update.value):
    if _unrestricted(ctx):
        return None
    check_assistant_context(value.get("context"), (value.get("config") or {}).get("configurable"))
    return _owned(ctx, value)


@auth.on.assistants.read
@auth.on.assistants.search
async def on_assistant_read(ctx: Auth.types.AuthContext, value: dict):
    """Assistants hold shared graph settings only (see ``check_assistant_context``), so every
    user may see and run them; a run still acts only for its caller's own user id."""
    return None


@auth.on.crons
async def on_crons(ctx: Auth.types.AuthContext, value: dict):
    if _unrestricted(ctx):
        return None
    raise _deny(403, "scheduled runs (crons) are not available to token users")


@auth.on.store()
async def on_store(ctx: Auth.types.AuthContext, value: dict):
    if not _unrestricted(ctx):
        value["namespace"] = (ctx.user.identity, *value["namespace"])


@auth.on
async def owner_only(ctx: Auth.types.AuthContext, value: dict):
    """Everything else (threads, runs, assistant updates): the caller's own resources only."""
    if _unrestricted(ctx):
        return None
    return _owned(ctx, value)
