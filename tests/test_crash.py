"""kill -9 of a real `personaagent optimize` process in the middle of an iteration: the stored
persona is still the last accepted version and loads; running the command again resumes from the
checkpoint (the baseline and the critique are not redone) and completes. On Chroma the checkpoint
is the home folder's SQLite file; on Postgres it is the database, and the resuming process has a
home folder of its own: it shares only the database with the killed one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from personaagent.memory import MemoryStore

from support.processes import Process, free_port

pytestmark = pytest.mark.backends("chroma", "postgres")

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "personaagent")


def roles(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def test_kill_9_mid_iteration_then_resume(tmp_path, location):
    port, log = free_port(), tmp_path / "requests.log"
    fake = Process("fake-openai", [sys.executable, str(ROOT / "tests/support/fake_openai.py"), str(port)], tmp_path,
                   cwd=ROOT, env={"PYTHONPATH": str(ROOT), "FAKE_OPENAI_LATENCY": "0.3", "FAKE_OPENAI_LOG": str(log)})
    try:
        fake.wait_http(f"http://127.0.0.1:{port}/v1/models")
        env = {**os.environ, "PERSONAAGENT_HOME": str(tmp_path / "home"), "PERSONAAGENT_BASE_URL": f"http://127.0.0.1:{port}/v1",
               "PERSONAAGENT_API_KEY": "x", "PERSONAAGENT_WEB_SEARCH": "0", "PERSONAAGENT_MEMORY": location.get("url", "")}

        def open_memory() -> MemoryStore:
            return MemoryStore.open(url=location["url"]) if "url" in location else MemoryStore.open(tmp_path / "home" / "chroma")
        history = tmp_path / "history.jsonl"
        history.write_text("".join(f'{{"query": "Dinner {n}: pizza or sushi?", "ground_truth": "sushi", "timestamp": {100 + n}}}\n'
                                   for n in range(5)))
        subprocess.run([CLI, "ingest", "--user", "alice", "--no-profile", str(history)], env=env, check=True, capture_output=True)
        optimize = [CLI, "optimize", "--user", "alice", "--batch-size", "3", "--validation", "1", "--iters", "2"]
        first = subprocess.Popen(optimize, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while "edit" not in roles(log):  # iteration 1 is under way: baseline and critique are done
            assert first.poll() is None and time.monotonic() < deadline, first.stdout.read().decode()
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=30) == -signal.SIGKILL
        killed_at = len(roles(log))

        memory = open_memory()
        persona = memory.personas.latest("alice")
        assert (persona.version, persona.source) == (1, "initial") and "## Lookups before answering" in persona.text
        assert [r["status"] for r in memory.runs.history("alice")] == ["running"]
        memory.close()

        if "url" in location:  # another machine: nothing in common with the first but the database
            env["PERSONAAGENT_HOME"] = str(tmp_path / "other-home")
        second = subprocess.run(optimize, env=env, capture_output=True, text=True, timeout=180)
        assert second.returncode == 0, second.stderr[-3000:]
        resumed = roles(log)[killed_at:]
        # only the interrupted step onwards: the edit, then the 4 simulations of both candidates (the
        # edit, and the examples operator's pinned older interaction)
        assert "critique" not in resumed and resumed.count("edit") == 1 and resumed[0] == "edit"
        assert resumed.count("agent") == 2 * 4
        assert "loss 1.000 → 0.000; current persona v2" in second.stdout

        memory = open_memory()
        persona = memory.personas.latest("alice")
        assert (persona.version, persona.source, persona.parent) == (2, "optimizer", 1)
        assert "This user likes sushi." in persona.text
        assert [r["status"] for r in memory.runs.history("alice")] == ["finished"]
        assert not (tmp_path / "other-home" / "optimizer.sqlite").exists()
        memory.close()
    finally:
        fake.stop()
