"""A scripted OpenAI-compatible chat server for process-level tests (``python fake_openai.py PORT``).

It plays every role PersonaAgent gives a model, deterministically:
- profile / critique / section prompts (recognised by their first words) → a profile line, one
  bullet "This user likes X." per miss the critique was shown, those bullets as the new section;
- a structured edit (a forced call of the Edits function) → one "add" per bullet of the feedback;
- anything else is the agent: for "...: A or B?" it answers the option its persona (the system
  prompt before the retrieved history) says the user likes, else the first option.
So a persona starts out wrong and the optimizer can fix it, through real HTTP and real processes.
FAKE_OPENAI_LATENCY (seconds) delays every reply; FAKE_OPENAI_LOG names a file that gets one line
per request with its role (profile, critique, edit, section, agent).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from personaagent import prompts

WANTED = re.compile(r'the user wanted "([^"\n]+)"')
LIKES = re.compile(r"- This user likes .+\.")


def _text(message: dict) -> str:
    content = message.get("content") or ""
    return content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)


def _starts(system: str, template: str) -> bool:
    return system.startswith(template.split("{")[0][:40])


def role_of(body: dict) -> str:
    """Which PersonaAgent role a request plays (logged with FAKE_OPENAI_LOG)."""
    messages = body["messages"]
    system = _text(messages[0]) if messages and messages[0]["role"] == "system" else ""
    if isinstance(body.get("tool_choice"), dict):
        return "edit"
    for name, template in (("profile", prompts.PROFILE_INSTRUCTION), ("critique", prompts.CRITIQUE_INSTRUCTION),
                           ("section", prompts.SECTION_INSTRUCTION)):
        if _starts(system, template):
            return name
    return "agent"


def reply_for(body: dict) -> dict:
    messages = body["messages"]
    system = _text(messages[0]) if messages and messages[0]["role"] == "system" else ""
    last = _text(messages[-1])
    choice = body.get("tool_choice")
    feedback = LIKES.findall(last.split("Lessons about this user:")[-1])
    if isinstance(choice, dict) and choice.get("type") == "function":
        edits = [{"action": "add", "section": "What you know about this user", "text": line.lstrip("- ")}
                 for line in feedback]
        return {"role": "assistant", "content": None, "tool_calls": [{
            "id": f"call_{abs(hash(last)) % 10**8}", "type": "function",
            "function": {"name": choice["function"]["name"], "arguments": json.dumps({"edits": edits})}}]}
    if _starts(system, prompts.PROFILE_INSTRUCTION):
        text = "likes what they chose before"
    elif _starts(system, prompts.CRITIQUE_INSTRUCTION):
        text = "\n".join(sorted({f"- This user likes {w.strip()}." for w in WANTED.findall(last)}))
    elif _starts(system, prompts.SECTION_INSTRUCTION):
        text = "\n".join(feedback)
    else:
        persona = system.split("## Retrieved")[0]
        options = [o.strip(" ?.") for o in last.split(":")[-1].split(" or ")]
        text = next((o for o in options if f"likes {o}." in persona), options[0])
    return {"role": "assistant", "content": text}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if not self.path.endswith("/chat/completions"):
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        if log := os.environ.get("FAKE_OPENAI_LOG"):
            with open(log, "a") as f:
                f.write(role_of(body) + "\n")
        time.sleep(float(os.environ.get("FAKE_OPENAI_LATENCY") or 0))
        message = reply_for(body)
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            delta = dict(message)
            if delta.get("tool_calls"):
                delta["tool_calls"] = [{**c, "index": 0} for c in delta["tool_calls"]]
            for chunk in ({"delta": delta, "finish_reason": None}, {"delta": {}, "finish_reason": finish}):
                event = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                         "model": "fake", "choices": [{"index": 0, **chunk}]}
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            return
        self._send(200, {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                         "model": body.get("model", "fake"), "usage": usage,
                         "choices": [{"index": 0, "message": message, "finish_reason": finish}]})


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    server.serve_forever()
