# Sourced by scripts/demo and scripts/test: make .venv (or $PERSONAAGENT_VENV) hold this project
# with the given extras, installed against requirements.lock (the versions tested together).
# Idempotent: a stamp of pyproject.toml + requirements.lock + extras skips pip when nothing changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${PERSONAAGENT_VENV:-.venv}"
extras="$1"
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV" >&2
  python3 -m venv "$VENV"
fi
want="$( (cat pyproject.toml requirements.lock; echo "$extras") | sha256sum | cut -c1-16)"
if [ "$(cat "$VENV/.personaagent-installed" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing personaagent[$extras] into $VENV (first time: llama-cpp-python compiles for ~5 min)" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade "pip>=24"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c requirements.lock -e ".[$extras]"
  echo "$want" > "$VENV/.personaagent-installed"
fi
export PATH="$PWD/$VENV/bin:$PATH"
