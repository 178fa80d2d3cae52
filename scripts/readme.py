"""The parts of README.md that come from the code and the results, generated, and a check that
they are current.

    python scripts/readme.py           # rewrite the generated blocks of README.md
    python scripts/readme.py --check   # exit 1, naming each block that is out of date

A generated block sits between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->``:

- ``configuration``: every ``Context`` field and every ``PERSONAAGENT_*`` variable, one table;
- ``agent-graph`` and ``optimizer-graph``: Mermaid from ``get_graph().draw_mermaid()``;
- ``results``: the headline figures, read from ``results/*/report.json``.

``tests/test_readme.py`` runs the check, so a README figure or drawing that no longer matches its
source fails the tests. To quote another run, add it to ``HEADLINE``.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import MISSING, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

HEADLINE = ("movielens", "prefeval-explicit-d0", "prefeval-choice")  # the results folders the README quotes
ANALYSIS_RUNGS = ("catalogue", "oracle")  # diagnostics in the reports, not rungs of the headline table

_BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end: (?P=name) -->)", re.S)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join([_row(header), "|" + "---|" * len(header)] + [_row(r) for r in rows])


def configuration() -> str:
    """One row per ``Context`` field (with the variable its default comes from, if any), then one
    per variable that no field reads."""
    from personaagent import environment
    from personaagent.context import Context

    by_field = {v.meaning.removeprefix("Context."): v for v in environment.VARIABLES.values()
                if v.meaning.startswith("Context.")}
    rows = []
    for f in fields(Context):
        variable = by_field.get(f.name)
        default = variable.default if variable else (None if f.default is MISSING else f.default)
        rows.append([f"`{f.name}`", f"`{variable.name}`" if variable else "",
                     "" if default in (None, "") else f"`{default}`", f.metadata["description"]])
    rows += [["", f"`{v.name}`", f"`{v.default}`" if v.default else "", v.meaning]
             for v in environment.VARIABLES.values() if not v.meaning.startswith("Context.")]
    return _table(["`Context` field", "environment variable", "default", "meaning"], rows)


def _mermaid(graph) -> str:
    return "```mermaid\n" + graph.compile().get_graph().draw_mermaid().rstrip("\n") + "\n```"


def agent_graph() -> str:
    from personaagent.graphs.agent import build_agent_graph

    return _mermaid(build_agent_graph())


def optimizer_graph() -> str:
    from personaagent.graphs.optimizer import build_optimizer_graph

    return _mermaid(build_optimizer_graph())


def _interval(value: float, ci: list[float]) -> str:
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def results(root: Path = ROOT) -> str:
    """The headline table: each run of ``HEADLINE``, its primary metric per rung with the 95%
    interval over users, and the user-mean baseline where the run has one, from its report.json."""
    from personaagent.eval.ladder import RUNGS
    from personaagent.eval.markdown import RUNG_LABELS

    reports = {run: json.loads((root / "results" / run / "report.json").read_text()) for run in HEADLINE}
    rungs = [r for r in RUNGS if r not in ANALYSIS_RUNGS and any(r in rep["rungs"] for rep in reports.values())]
    rows = []
    for run, report in reports.items():
        metric = "MAE" if report["kind"] == "rating" else "accuracy"
        items = max(row["items"] for row in report["rungs"].values())
        user_mean = report.get("baselines", {}).get("user mean")
        rows.append([f"[{run}](results/{run}/report.md), {items} items", metric]
                    + [_interval(report["rungs"][r][metric], report["rungs"][r][f"{metric}_ci95"])
                       if r in report["rungs"] else "" for r in rungs]
                    + [_interval(user_mean["MAE"], user_mean["MAE_ci95"]) if user_mean else ""])
    return _table(["run", "metric"] + [RUNG_LABELS[r] for r in rungs] + ["user mean"], rows)


GENERATORS = {"configuration": configuration, "agent-graph": agent_graph, "optimizer-graph": optimizer_graph,
              "results": results}


def blocks(text: str) -> dict[str, str]:
    """The generated blocks of a README text, by name."""
    return {m["name"]: m["body"].rstrip("\n") for m in _BLOCK.finditer(text)}


def regenerated(text: str) -> str:
    """``text`` with every generated block replaced by what its generator gives now."""
    return _BLOCK.sub(lambda m: m[1] + GENERATORS[m["name"]]() + "\n" + m[4], text)


def stale(text: str) -> list[str]:
    """The names of the blocks whose text differs from what their generator gives now."""
    return [name for name, body in blocks(text).items() if body != GENERATORS[name]()]


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    text = README.read_text()
    if "--check" in argv:
        names = stale(text)
        for name in names:
            print(f"README.md: the generated block {name!r} is out of date (python scripts/readme.py)")
        return 1 if names else 0
    README.write_text(regenerated(text))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
