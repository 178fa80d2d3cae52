"""LangSmith tracing from its environment variables alone: every optimizer iteration is a named
run. A loopback HTTP server stands in for the LangSmith API and records what the client posts."""

import gzip
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def langsmith_api():
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _reply(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            encoding = self.headers.get("Content-Encoding", "")
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "zstd":
                import zstandard

                body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
            bodies.append(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = do_PATCH = do_PUT = _reply

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", bodies
    server.shutdown()


def test_each_optimizer_iteration_is_a_named_langsmith_run(langsmith_api, tmp_path):
    url, bodies = langsmith_api
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH_", "LANGCHAIN_"))}
    env |= {"LANGSMITH_TRACING": "true", "LANGSMITH_ENDPOINT": url, "LANGSMITH_API_KEY": "test-key",
            "LANGSMITH_PROJECT": "personaagent-tests", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "tests/support/traced_optimization.py"), str(tmp_path / "store")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "['baseline', 'rejected', 'accepted']" in done.stdout
    sent = b"\n".join(bodies)
    for name in (b"optimizer baseline", b"optimizer iteration 1", b"optimizer iteration 2",
                 b"critique for optimizer iteration 1", b"rewrite for optimizer iteration 2: section"):
        assert name in sent, name
    assert b"personaagent-tests" in sent and b"persona-optimizer" in sent


def test_without_the_variables_nothing_is_sent(langsmith_api, tmp_path):
    url, bodies = langsmith_api
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH_", "LANGCHAIN_"))}
    env |= {"LANGSMITH_ENDPOINT": url, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "tests/support/traced_optimization.py"), str(tmp_path / "store")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert bodies == []
