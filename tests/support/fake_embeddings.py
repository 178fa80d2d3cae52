"""An OpenAI-compatible ``/v1/embeddings`` endpoint in a thread, for tests: a text's vector is
(its length, 1, 0); while ``down`` it answers 500. It records the last request and counts them."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Iterator


@contextmanager
def fake_embeddings() -> Iterator[dict[str, Any]]:
    """Yields the endpoint's state: ``url``, ``down`` (set it to fail), ``requests`` (a count) and
    ``seen`` (the last request's path, model and Authorization header)."""
    state: dict[str, Any] = {"down": False, "requests": 0, "seen": {}}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state["requests"] += 1
            state["seen"] = {"path": self.path, "model": body["model"], "auth": self.headers.get("Authorization")}
            data = [{"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]}
                    for i, t in enumerate(body["input"])]
            payload = json.dumps({"error": {"message": "down"}} if state["down"] else {
                "object": "list", "data": data, "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode()
            self.send_response(500 if state["down"] else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_port}/v1"
    try:
        yield state
    finally:
        server.shutdown()
