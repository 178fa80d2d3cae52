"""Real processes for server tests: free ports, start-and-wait, clean shutdown with logs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    def __init__(self, name: str, cmd: list[str], log_dir: Path, cwd: Path | None = None, env: dict | None = None):
        self.name, self.log = name, log_dir / f"{name}.log"
        self._file = self.log.open("w")
        self.proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **(env or {})}, stdout=self._file,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_http(self, url: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(url, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"{self.name} did not answer {url} within {timeout:.0f} s:\n{self.tail()}")

    def tail(self, chars: int = 4000) -> str:
        self._file.flush()
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._file.close()


@contextmanager
def chroma_server(directory: Path) -> Iterator[int]:
    """A `chroma run` server over ``directory/db`` on a free loopback port, for the ``with`` block;
    yields the port."""
    port = free_port()
    chroma = Process("chroma", [str(Path(sys.executable).parent / "chroma"), "run", "--path", str(directory / "db"),
                                "--host", "127.0.0.1", "--port", str(port)], directory)
    try:
        chroma.wait_http(f"http://127.0.0.1:{port}/api/v2/heartbeat")
        yield port
    finally:
        chroma.stop()
