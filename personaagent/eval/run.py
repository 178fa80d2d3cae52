"""Running an evaluation: users (one record file each, so an interrupted run resumes, on this machine
or another), progress bars over users and stages, then the report.

A record holds the model's answers, distributions, timings and the optimizer's summary, but no
dataset text and no ground truth, so ``OUT/users/`` can be committed; the report re-reads the
ground truth from the dataset. A rung whose settings, prompts and model are unchanged is reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .. import prompts
from ..memory.store import MemoryStore
from ..resources import Resources
from .ladder import LadderSettings, evaluate_user
from .report import build_report
from .types import EvalUser

log = logging.getLogger(__name__)


def read_records(out_dir: Path, users: list[EvalUser]) -> list[dict]:
    """The records of ``users`` that a run in ``out_dir`` holds."""
    paths = [Path(out_dir) / "users" / f"{u.user_id}.json" for u in users]
    return [json.loads(p.read_text()) for p in paths if p.exists()]


class Detections:
    """The statement detector's answers in a run (sentence → p(yes)): users whose histories share
    turns (PrefEval's fillers) ask about each sentence once, and a resumed run reuses them. Kept
    beside the store (not committed: the keys are dataset text), one file per model and prompt."""

    def __init__(self, folder: Path, model: str):
        tag = hashlib.sha256(json.dumps([model, prompts.STATED_INSTRUCTION, prompts.STATED_INPUT]).encode()).hexdigest()
        self.path = Path(folder) / f"detections-{tag[:12]}.json"
        self.answers: dict[str, float] = json.loads(self.path.read_text()) if self.path.exists() else {}
        self._lock = threading.Lock()

    def save(self) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(dict(self.answers)))
            tmp.replace(self.path)


def run_eval(users: list[EvalUser], out_dir: Path, resources: Resources, settings: LadderSettings,
             meta: dict[str, Any], concurrency: int = 1, report_only: bool = False,
             versus: Path | None = None) -> dict[str, Any]:
    """Evaluate ``users`` into ``out_dir``: ``users/<id>.json`` per finished user, ``store/``
    (Chroma, not committed), then ``report.json``, ``report.md`` and the PNG plots.
    ``report_only``: evaluate nobody, report on the users already recorded (a partial run).
    ``versus``: another run's folder; its rungs whose answers differ are compared with
    this run's on the users both have."""
    out_dir = Path(out_dir)
    (out_dir / "users").mkdir(parents=True, exist_ok=True)
    if resources.memory is None and not report_only:
        resources.memory = MemoryStore.open(out_dir / "store")
    started = time.monotonic()
    bar = tqdm(total=len(users), desc=meta["title"], unit="user")
    failures: list[str] = []
    spent: list[float] = []

    detections = Detections(out_dir / "store", meta["model"])

    def one(user: EvalUser) -> dict | None:
        path = out_dir / "users" / f"{user.user_id}.json"
        cached = json.loads(path.read_text()) if path.exists() else None
        if report_only:
            bar.update(1)
            return cached
        began = time.monotonic()
        try:
            record = evaluate_user(user, resources, settings, meta["model"], cached,
                                   stage=lambda s: bar.set_postfix_str(f"{user.user_id}: {s}"),
                                   detections=detections.answers)
        except Exception as exc:  # one user's failure is reported, not fatal to the run
            log.exception("evaluation of %s failed", user.user_id)
            failures.append(f"{user.user_id}: {type(exc).__name__}: {exc}")
            return cached
        if record != cached:
            detections.save()
            spent.append(time.monotonic() - began)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(record, indent=1, default=str))
            tmp.replace(path)  # a crash never leaves a half-written record
        bar.update(1)
        return record

    with ThreadPoolExecutor(max_workers=max(concurrency, 1)) as pool:
        records = [r for r in pool.map(one, users) if r is not None]
    bar.close()
    elapsed = time.monotonic() - started
    meta = {**meta, "optimizer_loss": settings.optimizer.metric, "finished_users": f"{len(records)} of {len(users)}", "failed_users": failures,
            "wall_time": "report only" if report_only else
            f"{elapsed / 60:.1f} min for this invocation ({len(spent)} users evaluated, the rest reused)"}
    other = (Path(versus).name, read_records(versus, users)) if versus else None
    return build_report(users, records, meta, out_dir, other)
