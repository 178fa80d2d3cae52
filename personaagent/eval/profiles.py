"""How often the model's profile contradicts the user's own history, before and after the check
(``personaagent eval profiles``): the demo's sample users and MovieLens users. Each profile is
summarised once (``memory.profile.summarise_profile``); "before" counts the lines the model wrote
that the history contradicts (an item chosen or rated high listed as avoided, or the reverse),
"after" checks the stored lines again the same way."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..memory.episodic import Interaction
from ..memory.profile import by_domain, summarise_profile
from ..memory.profile_check import checked, tastes
from .statements import wilson


def profile_check(model, users: dict[str, list[Interaction]], retry=None) -> dict[str, Any]:
    """Per user: lines written, lines contradicted before, phrases dropped, lines contradicted after."""
    rows = {}
    for user, items in users.items():
        summary = summarise_profile(model, items, retry)
        everything = by_domain(items)
        after = 0
        for line in summary.text.splitlines():
            domain, _, text = line[2:].partition(": ")
            after += bool(checked(text, *tastes(everything.get(domain, [])))[1])
        rows[user] = {"lines": summary.lines_written, "contradicted_before": summary.lines_contradicted,
                      "dropped": list(summary.dropped), "lines_kept": len(summary.text.splitlines()),
                      "contradicted_after": after}
    return rows


def _rates(rows: dict[str, dict]) -> dict[str, Any]:
    lines = sum(r["lines"] for r in rows.values())
    before = sum(r["contradicted_before"] for r in rows.values())
    after = sum(r["contradicted_after"] for r in rows.values())
    kept = sum(r["lines_kept"] for r in rows.values())
    return {"users": len(rows), "lines": lines, "before": before / lines if lines else None,
            "before_ci95": wilson(before, lines), "after": after / kept if kept else None,
            "after_ci95": wilson(after, kept), "lines_kept": kept,
            "phrases_dropped": sum(len(r["dropped"]) for r in rows.values())}


def measure(groups: dict[str, dict[str, list[Interaction]]], out: Path, model, meta: dict[str, Any],
            retry=None) -> dict[str, Any]:
    """``groups``: name → user → history. Writes report.json and report.md to ``out``."""
    began = time.monotonic()
    per_user = {name: profile_check(model, users, retry) for name, users in groups.items()}
    report = {**meta, "groups": {name: _rates(rows) for name, rows in per_user.items()}, "users": per_user,
              "minutes": round((time.monotonic() - began) / 60, 1)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    lines = ["# Profile lines the user's history contradicts", "", f"Command: `{meta['command']}`  ",
             f"Model: {meta['model']}; {report['minutes']} min.", "",
             "| users | n | lines written | contradicted before | 95% interval | lines kept | contradicted after | "
             "95% interval | phrases dropped |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in report["groups"].items():
        lines.append(f"| {name} | {r['users']} | {r['lines']} | {r['before']:.3f} | [{r['before_ci95'][0]:.3f}, "
                     f"{r['before_ci95'][1]:.3f}] | {r['lines_kept']} | {r['after']:.3f} | [{r['after_ci95'][0]:.3f}, "
                     f"{r['after_ci95'][1]:.3f}] | {r['phrases_dropped']} |")
    lines += ["", "A line is contradicted when it lists among what the user avoids an item they chose (or rated in "
              "the top quarter of the scale), or among what they like an item they passed over and never chose (or "
              "rated in the bottom third). The check drops such phrases before the profile is stored; \"after\" "
              "checks the stored lines again the same way. Phrases dropped, per user, are in report.json."]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return report
