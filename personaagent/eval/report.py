"""The report of an evaluation run, as files: ``report.json`` (the figures ``eval.summary``
computes), ``report.md`` (``eval.markdown``) and the PNG plots (``eval.plots``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import plots
from .ladder import RUNGS
from .markdown import RUNG_LABELS, markdown
from .summary import summarise
from .types import EvalUser


def build_report(users: list[EvalUser], records: list[dict], meta: dict[str, Any], out_dir: Path,
                 versus: tuple[str, list[dict]] | None = None) -> dict[str, Any]:
    """The report over ``records``, written to ``out_dir``; ``versus``: another run's name and
    records, compared rung by rung where their answers differ."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = summarise(users, records, meta, versus)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (out_dir / "report.md").write_text(markdown(report))
    known = {u.user_id for u in users}
    _plots(users, [r for r in records if r["user_id"] in known], report, out_dir)
    return report


def _plots(users: list[EvalUser], records: list[dict], report: dict, out_dir: Path) -> None:
    rating = report["kind"] == "rating"
    metric = "MAE" if rating else "accuracy"
    rungs = [r for r in RUNGS if r in report["rungs"]]
    rows = [report["rungs"][r] for r in rungs]
    references = {name: row["MAE"] for name, row in report.get("baselines", {}).items()}
    if report["kind"] == "choice" and users and users[0].test[0].options:
        references["chance"] = 1 / len(users[0].test[0].options)
    plots.plot_metric_per_rung([RUNG_LABELS[r] for r in rungs], [row[metric] for row in rows],
                               out_dir / "metric_per_rung.png", metric=metric, title=report["title"],
                               counts=[row["items"] for row in rows], intervals=[row[f"{metric}_ci95"] for row in rows],
                               references=references)
    plots.plot_loss_curves({r["user_id"]: [p["loss"] for p in r["optimization"]["loss_curve"]]
                            for r in records if r.get("optimization", {}).get("loss_curve")},
                           out_dir / "loss_curves.png", title=f"{report['title']}: optimizer loss per user")
    plots.plot_candidates([c for r in records for c in r.get("optimization", {}).get("pool", [])],
                          out_dir / "candidates.png", title=f"{report['title']}: candidates per iteration")
    attribute = {u.user_id: u.attribute for u in users}
    with_vector = [r for r in records if r.get("persona_vector")]
    if with_vector:
        plots.plot_persona_map([r["user_id"] for r in with_vector], [r["persona_vector"] for r in with_vector],
                               [attribute[r["user_id"]] for r in with_vector], out_dir / "persona_map.png",
                               title=f"{report['title']}: personas (MiniLM, PCA)")
