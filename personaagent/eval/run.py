"""Running an evaluation: users (cached one file each, so an interrupted run resumes), progress
bars over users and stages, then the report."""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import logging

from tqdm import tqdm

from ..memory.store import MemoryStore
from ..resources import Resources
from .ladder import LadderSettings, evaluate_user
from .report import build_report
from .types import EvalUser

log = logging.getLogger(__name__)


def run_eval(users: list[EvalUser], out_dir: Path, resources: Resources, settings: LadderSettings,
             meta: dict[str, Any], concurrency: int = 1, report_only: bool = False) -> dict[str, Any]:
    """Evaluate ``users`` into ``out_dir``: ``users/<id>.json`` per finished user (reused when the
    settings match), ``store/`` (Chroma), then ``report.json``, ``report.md`` and the PNG plots.
    ``report_only``: evaluate nobody, report on the users already finished (a partial run)."""
    out_dir = Path(out_dir)
    (out_dir / "users").mkdir(parents=True, exist_ok=True)
    if resources.memory is None and not report_only:
        resources.memory = MemoryStore.open(out_dir / "store")
    key = hashlib.sha256(json.dumps([asdict(settings), meta.get("model")], default=str).encode()).hexdigest()[:12]
    started = time.monotonic()
    bar = tqdm(total=len(users), desc=meta["title"], unit="user")
    failures: list[str] = []

    def one(user: EvalUser) -> dict | None:
        cache = out_dir / "users" / f"{user.user_id}.json"
        if cache.exists():
            cached = json.loads(cache.read_text())
            if cached.get("settings_key") == key:
                bar.update(1)
                return cached
        if report_only:
            return None
        began = time.monotonic()
        try:
            record = evaluate_user(user, resources, settings,
                                   stage=lambda s: bar.set_postfix_str(f"{user.user_id}: {s}"))
        except Exception as exc:  # one user's failure is reported, not fatal to the run
            log.exception("evaluation of %s failed", user.user_id)
            failures.append(f"{user.user_id}: {type(exc).__name__}: {exc}")
            return None
        record |= {"settings_key": key, "seconds": round(time.monotonic() - began, 1)}
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1, default=str))
        tmp.replace(cache)  # a crash never leaves a half-written cache file
        bar.update(1)
        return record

    with ThreadPoolExecutor(max_workers=max(concurrency, 1)) as pool:
        records = [r for r in pool.map(one, users) if r is not None]
    bar.close()
    elapsed = time.monotonic() - started
    timed = [r["seconds"] for r in records if "seconds" in r]
    spent = f"{sum(timed) / 60:.1f} min summed over the {len(timed)} users timed" if timed else "not recorded"
    meta = {**meta, "finished_users": f"{len(records)} of {len(users)}", "failed_users": failures,
            "wall_time": meta.get("wall_time") or (f"report only; evaluation time {spent}" if report_only
                                                   else f"{elapsed / 60:.1f} min for this invocation ({spent})")}
    return build_report(records, meta, out_dir)
