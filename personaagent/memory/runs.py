"""A log of optimization runs per user: when each started and finished, how, and its summary.
It makes background optimization visible (``personaagent optimize --history``) and lets the
scheduler count the labelled interactions that arrived since the last run."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from ..ids import validate_user_id
from .episodic import user_filter


class RunLog:
    def __init__(self, collection):
        self.collection = collection

    def start(self, user_id: str, trigger: str) -> str:
        run_id = uuid.uuid4().hex
        self.collection.add(
            ids=[run_id], documents=[f"optimization run for {validate_user_id(user_id)}"],
            metadatas=[{"user_id": user_id, "started_at": time.time(), "status": "running", "trigger": trigger}],
        )
        return run_id

    def finish(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None:
        row = self.collection.get(ids=[run_id])
        meta = {**row["metadatas"][0], "status": status, "finished_at": time.time(),
                "summary": json.dumps(summary or {}, default=str)}
        self.collection.update(ids=[run_id], metadatas=[meta])

    def history(self, user_id: str) -> list[dict[str, Any]]:
        rows = self.collection.get(where=user_filter(user_id))
        runs = [{"run_id": i, **m, "summary": json.loads(m.get("summary") or "{}")}
                for i, m in zip(rows["ids"], rows["metadatas"])]
        return sorted(runs, key=lambda r: r["started_at"])

    def last_started(self, user_id: str) -> float | None:
        runs = self.history(user_id)
        return runs[-1]["started_at"] if runs else None
