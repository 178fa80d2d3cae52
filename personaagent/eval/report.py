"""Tables (JSON and Markdown) and PNG plots from the per-user records of an evaluation run."""

from __future__ import annotations

import json
import math
from pathlib import Path
from statistics import fmean
from typing import Any

from ..memory.embeddings import MiniLMEmbeddingFunction
from ..metrics import predicted_rating
from . import plots
from .ladder import RUNGS

RUNG_LABELS = {"non_personalized": "non-personalized", "memory_only": "memory only",
               "persona": "persona (no alignment)", "full": "full (aligned)"}


def _rating_metrics(pairs: list[tuple[float | None, float]]) -> dict[str, Any]:
    errors = [abs((p if p is not None else 2.75) - t) for p, t in pairs]
    return {"MAE": fmean(errors) if errors else None,
            "RMSE": math.sqrt(fmean(e * e for e in errors)) if errors else None,
            "unparsed": sum(p is None for p, _ in pairs), "items": len(pairs)}


def rung_metrics(records: list[dict], rung: str) -> dict[str, Any] | None:
    rows = [(r, row) for r in records for row in r["rungs"].get(rung, [])]
    if not rows:
        return None
    users = len({r["user_id"] for r, _ in rows})
    if records[0]["metric"] == "rating":
        # an answer with no rating on the scale counts as the scale's midpoint (2.75)
        pairs = [(predicted_rating(row["answer"]), float(row["ground_truth"])) for _, row in rows]
        return {**_rating_metrics(pairs), "users": users}
    return {"accuracy": fmean(1.0 - row["loss"] for _, row in rows), "items": len(rows), "users": users}


def baseline_metrics(records: list[dict]) -> dict[str, dict]:
    """Model-free rating baselines: global, user and item mean (item mean falls back to user mean)."""
    out = {}
    for name, pick in (("global mean", lambda ex, row: ex["global_mean"]),
                       ("user mean", lambda ex, row: ex["user_mean"]),
                       ("item mean", lambda ex, row: row.get("item_mean") if row.get("item_mean") is not None
                        else ex["user_mean"])):
        pairs = [(pick(r["extra"], item), float(item["ground_truth"]))
                 for r in records for item in r.get("test_items", [])]
        out[name] = {**_rating_metrics(pairs), "users": len(records)}
    return out


def build_report(records: list[dict], meta: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    table = {rung: rung_metrics(records, rung) for rung in RUNGS}
    applicable = [r for r in records if r["alignment_applicable"]]
    if not applicable:
        table["full"] = None  # not applicable: this history has no labelled interaction
    report = {**meta, "rungs": table, "users": len(records),
              "alignment_applicable_users": len(applicable)}
    if records and records[0]["metric"] == "rating":
        report["baselines"] = baseline_metrics(records)
    accepted = [r for r in applicable if r.get("optimization", {}).get("accepted")]
    report["alignment"] = {"users_with_accepted_persona": len(accepted), "users_aligned": len(applicable),
                           "model_calls": sum(r.get("optimization", {}).get("model_calls", 0) for r in applicable)}
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (out_dir / "report.md").write_text(markdown(report))
    _plots(records, report, out_dir)
    return report


def _cell(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown(report: dict[str, Any]) -> str:
    rating = report["metric"] == "rating"
    cols = ["MAE", "RMSE", "unparsed", "items", "users"] if rating else ["accuracy", "items", "users"]
    lines = [f"# {report['title']}", "", f"Command: `{report['command']}`", "",
             f"Model: {report['model']}. Settings: {report['settings']}. Wall time: {report['wall_time']}. "
             f"Users finished: {report.get('finished_users', report['users'])}.", "",
             "| rung | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for rung in RUNGS:
        row = report["rungs"].get(rung)
        values = [_cell(row.get(c)) if row else "n/a" for c in cols]
        lines.append(f"| {RUNG_LABELS[rung]} | " + " | ".join(values) + " |")
    for name, row in report.get("baselines", {}).items():
        lines.append(f"| baseline: {name} | " + " | ".join(_cell(row.get(c)) for c in cols) + " |")
    a = report["alignment"]
    lines += ["", f"Alignment: {a['users_with_accepted_persona']} of {a['users_aligned']} aligned users got an "
              f"accepted persona; {a['model_calls']} optimizer model calls in all.",
              "Where no candidate was accepted, the full rung reuses that user's persona-rung answers "
              "(same persona, temperature 0)."]
    if report.get("failed_users"):
        lines += ["", "Users whose evaluation failed (not in the table; rerun to retry):"]
        lines += [f"- {failure}" for failure in report["failed_users"]]
    if report.get("notes"):
        lines += ["", report["notes"]]
    return "\n".join(lines) + "\n"


def _plots(records: list[dict], report: dict, out_dir: Path) -> None:
    metric = "MAE" if report["metric"] == "rating" else "accuracy"
    rows = [report["rungs"].get(r) for r in RUNGS]
    plots.plot_metric_per_rung([RUNG_LABELS[r] for r in RUNGS], [row.get(metric) if row else None for row in rows],
                               out_dir / "metric_per_rung.png", metric=metric, title=report["title"],
                               counts=[row["items"] if row else 0 for row in rows])
    plots.plot_loss_curves({r["user_id"]: r["loss_curve"] for r in records if r.get("loss_curve")},
                           out_dir / "loss_curves.png", title=f"{report['title']}: optimizer loss per user")
    with_persona = [r for r in records if r.get("persona")]
    if with_persona:
        vectors = MiniLMEmbeddingFunction()([r["persona"] for r in with_persona])
        plots.plot_persona_map([r["user_id"] for r in with_persona], vectors,
                               [r["attribute"] for r in with_persona], out_dir / "persona_map.png",
                               title=f"{report['title']}: personas (MiniLM, PCA)")
