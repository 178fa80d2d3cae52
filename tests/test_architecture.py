"""The package's shape, as docs/architecture.md states it: its import graph has no circle, no
module imports one of a higher layer, and importing the package (or asking the CLI for help)
loads no store, model client or graph."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "personaagent"

# Lowest first. A module may import its own layer and the layers below it, never one above.
LAYERS = [
    ("base", ["errors", "environment", "ids", "prompts", "web", "context", "models", "answers", "persona.sections",
              "persona.stated", "persona.settings", "recency"]),
    ("memory", ["memory"]),
    ("domain", ["persona"]),
    ("wiring", ["resources", "state"]),
    ("tools", ["tools"]),
    ("nodes", ["nodes"]),
    ("graphs", ["graphs"]),
    ("services", ["services", "eval"]),
    ("interfaces", ["cli", "server", "testing"]),
]


def layer_of(module: str) -> int:
    """The layer of the longest name in LAYERS that ``module`` is or lies under."""
    name = module.split(".", 1)[1]
    matches = [(len(entry), n) for n, (_, entries) in enumerate(LAYERS) for entry in entries
               if name == entry or name.startswith(entry + ".")]
    if not matches:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and to docs/architecture.md")
    return max(matches)[1]


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every personaagent module ``name`` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rsplit(".", 1)[0]
            target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                out.add(candidate if candidate in known else target)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {m for m in out if m in known and m != name}


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items() if name != "personaagent"}


def test_no_module_imports_a_higher_layer():
    upward = sorted(f"{a} → {b}" for a, targets in graph().items() for b in targets
                    if b != "personaagent" and layer_of(b) > layer_of(a))
    assert upward == []


def test_the_import_graph_has_no_circle():
    edges = graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            cycle = visit(start)
            assert cycle is None, " → ".join(cycle)


def test_importing_the_package_and_asking_for_help_load_nothing_heavy():
    probe = ("import sys, personaagent\n"
             "from personaagent.cli import build_parser\n"
             "try:\n    build_parser().parse_args(['--help'])\nexcept SystemExit:\n    pass\n"
             "heavy = ['chromadb', 'langchain_openai', 'openai', 'llama_cpp', 'langgraph.graph', "
             "'personaagent.graphs.agent', 'personaagent.memory']\n"
             "print([m for m in heavy if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
