"""Test doubles for PersonaAgent and apps built on it: a scripted chat model whose ``bind_tools``
works, and a deterministic hashing embedding (registered with chromadb) that needs no model."""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from typing import Any, Callable, Sequence

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction
from chromadb.utils.embedding_functions import register_embedding_function
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

Reply = AIMessage | str
Responder = Callable[[list[BaseMessage], dict[str, Any]], Reply]


class ScriptedChatModel(BaseChatModel):
    """Replies from a script: a list of replies consumed in order, or a function of
    ``(messages, call_kwargs)``. Every call is recorded in ``calls`` (messages plus the
    ``tool_choice`` and tool names it was bound with), so tests can assert what the model saw.
    ``latency_s`` makes each call sleep, for benchmarks."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    script: Any = Field(default_factory=list)  # list[Reply] or Responder
    latency_s: float = 0.0
    calls: list[dict[str, Any]] = Field(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _next: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any):
        names = [getattr(t, "name", None) or getattr(t, "__name__", None) or str(t) for t in tools]
        return self.bind(tool_names=names, tool_choice=tool_choice, **kwargs)

    def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        with self._lock:
            self.calls.append({"messages": list(messages), **kwargs})
            if callable(self.script):
                reply = self.script(messages, kwargs)
            else:
                if self._next >= len(self.script):
                    raise RuntimeError(f"ScriptedChatModel ran out of replies after {self._next} calls")
                reply = self.script[self._next]
                self._next += 1
        return AIMessage(content=reply) if isinstance(reply, str) else reply.model_copy()

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        if self.latency_s:
            time.sleep(self.latency_s)
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages, kwargs))])


def distribution_reply(probs: dict[str, float], content: str | None = None) -> AIMessage:
    """A one-token reply carrying OpenAI-style ``logprobs`` for a closed-form answer: ``probs``
    maps tokens (option letters, rating digits, anything else) to probabilities."""
    top = sorted(probs.items(), key=lambda kv: -kv[1])
    entries = [{"token": token, "logprob": math.log(p), "bytes": None} for token, p in top if p > 0]
    return AIMessage(content=top[0][0] if content is None else content, response_metadata={
        "finish_reason": "length", "logprobs": {"content": [{**entries[0], "top_logprobs": entries}]}})


def tool_call(name: str, **args: Any) -> AIMessage:
    """An AI message that calls one tool (for scripts)."""
    digest = hashlib.sha1(repr((name, sorted(args.items()))).encode()).hexdigest()[:8]
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call_{digest}"}])


_WORD = re.compile(r"[a-z0-9]+")


@register_embedding_function
class HashEmbeddingFunction(EmbeddingFunction[Documents]):
    """Bag of lower-cased words hashed into ``dim`` buckets, L2-normalised: texts sharing words
    are close, so "hiking" finds the hiking memory. Deterministic across processes."""

    def __init__(self, dim: int = 256):
        self.dim = dim

    def __call__(self, input: Documents) -> list[np.ndarray]:
        out = []
        for text in input:
            vec = np.zeros(self.dim, dtype=np.float32)
            for word in _WORD.findall(text.lower()):
                vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
            norm = np.linalg.norm(vec)
            out.append(vec / norm if norm else vec + 1.0 / np.sqrt(self.dim))
        return out

    @staticmethod
    def name() -> str:
        return "personaagent-hash-test"

    def default_space(self) -> str:
        return "cosine"

    def get_config(self) -> dict[str, Any]:
        return {"dim": self.dim}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> "HashEmbeddingFunction":
        return HashEmbeddingFunction(**config)


def _role_prefix(template: str) -> str:
    return template.split("{")[0][:40]


def judge(judge_input: str) -> AIMessage:
    """A structured verdict for ``prompts.JUDGE_INPUT``: score 1 when the answer contains what the
    user wanted, else 0."""
    wanted = judge_input.split("What the user really wanted: ")[1].split("\n")[0].strip().lower()
    answer = judge_input.split("Assistant's answer: ")[1].strip().lower()
    hit = wanted in answer
    return tool_call("Judgement", score=1.0 if hit else 0.0,
                     difference="gave what the user wanted" if hit else f"the user wanted {wanted}")


def persona_agent_script(
    answer: str | Callable[[str, list[BaseMessage]], str],
    *,
    profile: str = "likes what they chose before",
    critique: str = "- say more about this user's tastes",
    rewrite: str | list[str] = "- This user likes what they chose before.",
    edits: list[dict] | None = None,
    stated: Callable[[str], float] | float = 0.0,
    fits: Callable[[str], float] | float = 1.0,
) -> Responder:
    """A ``ScriptedChatModel`` script that plays every role PersonaAgent gives a model: a judge's
    verdict, a profile line, the critique, a section rewrite (``rewrite``: the new lines; a list
    is used in order, its last entry repeating), structured edits (``edits``: dicts with action,
    section, line, text; None replies with no usable edit), the detector of stated preferences
    (``stated``: p(yes), or a function of the sentence giving it; by default nothing is a
    statement), the check of an option against the statements (``fits``: p(yes, it is
    consistent with them), or a function of the option; by default every option is) and the answer (text or a reply such as ``distribution_reply(...)``, or a function
    of the system prompt and the messages)."""
    from . import prompts

    def two_way(p: float, first: str = "Yes", second: str = "No") -> AIMessage:
        return distribution_reply({first: p, second: 1 - p} if 0 < p < 1 else {first if p else second: 1.0})

    def detect(sentence_input: str) -> AIMessage:
        sentence = sentence_input.split('"', 1)[1].split('"\n', 1)[0]
        return two_way(stated(sentence) if callable(stated) else stated, "preference", "request")

    def check(check_input: str) -> AIMessage:
        option = check_input.split("\nSuggestion: ", 1)[1].split("\n", 1)[0]
        return two_way(fits(option) if callable(fits) else fits)

    rewrites = [rewrite] if isinstance(rewrite, str) else list(rewrite)
    roles = {_role_prefix(prompts.PROFILE_INSTRUCTION): lambda: profile,
             _role_prefix(prompts.CRITIQUE_INSTRUCTION): lambda: critique,
             _role_prefix(prompts.SECTION_INSTRUCTION): lambda: rewrites.pop(0) if len(rewrites) > 1 else rewrites[0],
             _role_prefix(prompts.EDIT_INSTRUCTION): lambda: tool_call("Edits", edits=edits) if edits else "no edits"}

    def respond(messages: list[BaseMessage], kwargs: dict[str, Any]) -> Reply:
        system = str(messages[0].content) if messages else ""
        if system.startswith(_role_prefix(prompts.JUDGE_INSTRUCTION)):
            return judge(str(messages[-1].content))
        if system.startswith(_role_prefix(prompts.STATED_INSTRUCTION)):
            return detect(str(messages[-1].content))
        if system.startswith(_role_prefix(prompts.CHECK_INSTRUCTION)):
            return check(str(messages[-1].content))
        for prefix, reply in roles.items():
            if system.startswith(prefix):
                return reply()
        return answer(system, messages) if callable(answer) else answer

    return respond


def answering_calls(model: ScriptedChatModel) -> list[dict[str, Any]]:
    """The calls of ``model`` that answered a request, leaving out those of the other roles it
    plays in ``persona_agent_script`` (profile, critique, rewrites, judge, statement detector)."""
    from . import prompts

    roles = tuple(_role_prefix(p) for p in (prompts.PROFILE_INSTRUCTION, prompts.CRITIQUE_INSTRUCTION,
                                            prompts.SECTION_INSTRUCTION, prompts.EDIT_INSTRUCTION,
                                            prompts.JUDGE_INSTRUCTION, prompts.STATED_INSTRUCTION,
                                            prompts.CHECK_INSTRUCTION))
    return [c for c in model.calls if not (c["messages"] and str(c["messages"][0].content).startswith(roles))]


FAULT_KINDS = ("timeout", "server_error", "malformed", "empty", "truncated")


class FaultInjectingChatModel(BaseChatModel):
    """Wraps a chat model and makes a seeded fraction ``rate`` of its calls fail the ways real
    endpoints do: a timeout, a 5xx, a malformed reply (for tool / structured calls: no usable tool
    call; else blank text), an empty reply, or a reply cut off by the token limit
    (``finish_reason="length"``). ``faults`` counts what was injected, ``calls`` all calls."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    inner: BaseChatModel
    rate: float = 0.3
    seed: int = 0
    kinds: tuple[str, ...] = FAULT_KINDS
    faults: dict[str, int] = Field(default_factory=dict)
    calls: int = 0
    _seen: dict[str, int] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "fault-injecting"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any):
        return self.bind(bound_tools=list(tools), tool_choice=tool_choice, **kwargs)

    def _fault(self, messages: list[BaseMessage]) -> str | None:
        """Seeded by the call's messages and how often they were sent before, so the same run draws
        the same faults whatever order parallel calls arrive in (a retry draws afresh)."""
        import random

        key = hashlib.sha1(repr([(m.type, str(m.content)) for m in messages]).encode()).hexdigest()
        with self._lock:
            attempt = self._seen.get(key, 0)
            self._seen[key] = attempt + 1
            self.calls += 1
            draw = random.Random(f"{self.seed}:{key}:{attempt}")
            if draw.random() >= self.rate:
                return None
            kind = draw.choice(self.kinds)
            self.faults[kind] = self.faults.get(kind, 0) + 1
            return kind

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        import httpx
        import openai

        tools, tool_choice = kwargs.pop("bound_tools", None), kwargs.pop("tool_choice", None)
        kind = self._fault(messages)
        if kind == "timeout":
            raise TimeoutError("injected: the model endpoint timed out")
        if kind == "server_error":
            response = httpx.Response(503, request=httpx.Request("POST", "http://model.invalid/v1/chat/completions"))
            raise openai.InternalServerError("injected: 503 from the model endpoint", response=response, body=None)
        if kind == "malformed" and tools:  # a tool call whose arguments are not JSON
            message = AIMessage(content="", invalid_tool_calls=[{
                "type": "invalid_tool_call", "name": getattr(tools[0], "name", None) or getattr(tools[0], "__name__", "tool"),
                "args": "{not json", "id": "call_malformed", "error": "injected: malformed arguments"}])
        elif kind == "malformed":
            message = AIMessage(content=" \n ")
        elif kind == "empty":
            message = AIMessage(content="")
        else:
            model = self.inner.bind_tools(tools, tool_choice=tool_choice) if tools else self.inner
            message = model.invoke(messages)
            if kind == "truncated":
                message = AIMessage(content=message.text[: max(1, len(message.text) // 3)],
                                    response_metadata={"finish_reason": "length"})
        return ChatResult(generations=[ChatGeneration(message=message)])
