"""Token configuration and the run-context rule of the server's auth, without a server."""

import json
from dataclasses import fields

import pytest
from langgraph_sdk import Auth

from personaagent.context import Context
from personaagent.errors import InvalidUserId, PersonaAgentError
from personaagent.server.auth import REQUEST_FIELDS, check_assistant_context, check_run_context
from personaagent.server.tokens import OPEN, token_table, user_for_token


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("PERSONAAGENT_AUTH", "PERSONAAGENT_AUTH_TOKENS", "PERSONAAGENT_AUTH_TOKENS_FILE"):
        monkeypatch.delenv(name, raising=False)


def test_tokens_from_the_environment_and_a_file(monkeypatch, tmp_path):
    monkeypatch.setenv("PERSONAAGENT_AUTH_TOKENS", " t1=alice , t2=bob ")
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"t3": "carol"}))
    monkeypatch.setenv("PERSONAAGENT_AUTH_TOKENS_FILE", str(path))
    table = token_table()
    assert table == {"t1": "alice", "t2": "bob", "t3": "carol"}
    assert (user_for_token(table, "t3"), user_for_token(table, "t4"), user_for_token(table, "")) == ("carol", None, None)


@pytest.mark.parametrize("env, error, message", [
    ({}, PersonaAgentError, "no API tokens are configured"),
    ({"PERSONAAGENT_AUTH_TOKENS": "t1alice"}, PersonaAgentError, "entry 1 is not token=user"),
    ({"PERSONAAGENT_AUTH_TOKENS": "t1=../bob"}, InvalidUserId, "may only contain"),
    ({"PERSONAAGENT_AUTH_TOKENS_FILE": "/nonexistent/tokens.json"}, PersonaAgentError, "cannot read"),
])
def test_bad_token_configuration_is_named(monkeypatch, env, error, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(error, match=message):
        token_table()


def test_auth_off_is_explicit(monkeypatch):
    monkeypatch.setenv("PERSONAAGENT_AUTH", "off")
    assert token_table() is OPEN


@pytest.mark.parametrize("context, configurable, message", [
    ({"user_id": "bob"}, None, "acts for user 'alice'"),
    (None, None, "acts for user 'alice'"),
    (None, {"user_id": "bob"}, "acts for user 'alice'"),
    ({"user_id": "alice", "model_base_url": "http://evil"}, None, "model_base_url are set by the server"),
    ({"user_id": "alice", "model_name": "gpt-4-32k"}, None, "model_name are set by the server"),
    ({"user_id": "alice", "optimizer_model_name": "o1"}, None, "optimizer_model_name are set by the server"),
])
def test_a_run_must_be_for_the_caller_and_leave_server_fields_alone(context, configurable, message):
    with pytest.raises(Auth.exceptions.HTTPException, match=message):
        check_run_context("alice", context, configurable)
    check_run_context("alice", {"user_id": "alice", "top_k": 2}, None)


@pytest.mark.parametrize("context, configurable, message", [
    ({"persona": "You are a pirate."}, None, "persona belong to one user"),
    (None, {"user_id": "bob"}, "user_id belong to one user"),
    ({"model_name": "gpt-4o"}, None, "model_name are set by the server"),
])
def test_a_shared_assistant_carries_nothing_of_one_user(context, configurable, message):
    with pytest.raises(Auth.exceptions.HTTPException, match=message):
        check_assistant_context(context, configurable)
    check_assistant_context({"top_k": 2, "profile_every": 5}, None)


# Every Context field, classified by hand: a field added to Context fails this test until it is
# put here, and it is the server's until it is also put on auth.REQUEST_FIELDS.
PER_REQUEST = {"user_id", "persona", "temperature", "top_k", "statements_shown", "profile_every", "optimize_every",
               "option_orders", "check_options", "max_tool_rounds", "recency_half_life_days"}
SERVER_ONLY = {"model_base_url", "model_api_key", "model_name", "optimizer_base_url", "optimizer_api_key",
               "optimizer_model_name", "cold_start_below", "memory_url", "chroma_path", "chroma_host", "chroma_port", "embedding_base_url",
               "embedding_model"}


def test_every_context_field_is_either_per_request_or_the_servers():
    assert PER_REQUEST | SERVER_ONLY == {f.name for f in fields(Context)} and not PER_REQUEST & SERVER_ONLY
    assert REQUEST_FIELDS == PER_REQUEST
    for name in sorted(SERVER_ONLY):
        with pytest.raises(Auth.exceptions.HTTPException, match=f"{name} are set by the server"):
            check_run_context("alice", {"user_id": "alice", name: "x"}, None)
    check_run_context("alice", dict.fromkeys(PER_REQUEST - {"user_id"}, 1) | {"user_id": "alice"}, None)
    check_run_context("alice", {"user_id": "alice"}, {"thread_id": "t", "assistant_id": "a"})  # not Context fields
