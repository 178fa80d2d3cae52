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
# llama-cpp-python comes only as source. Built with its default -march=native on a CPU with AMX, it
# crashes at the first matrix multiply wherever the OS does not grant AMX state (seen in sandboxes);
# so it is built once per machine with portable flags (AVX2, FMA, F16C) into a wheel directory of
# its own, which pip's own wheel cache (keyed by version only) cannot shadow.
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF"
want="$( (cat pyproject.toml requirements.lock; echo "$extras $LLAMA_CMAKE_ARGS") | sha256sum | cut -c1-16)"
if [ "$(cat "$VENV/.personaagent-installed" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing personaagent[$extras] into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade "pip>=24"
  if [[ ",$extras," == *",local,"* ]]; then
    llama="$(grep -i '^llama[-_]cpp[-_]python==' requirements.lock | cut -d= -f3)"
    wheels="${XDG_CACHE_HOME:-$HOME/.cache}/personaagent/wheels/llama-cpp-python-$llama-$(echo "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-8)"
    if ! ls "$wheels"/*.whl >/dev/null 2>&1; then
      echo "setup: compiling llama-cpp-python $llama with $LLAMA_CMAKE_ARGS (~5 min, once per machine)" >&2
      rm -rf "$wheels.partial"
      CMAKE_ARGS="$LLAMA_CMAKE_ARGS" "$VENV/bin/python" -m pip wheel -q --disable-pip-version-check --no-deps \
        --no-cache-dir -w "$wheels.partial" "llama-cpp-python==$llama"
      mv "$wheels.partial" "$wheels"
    fi
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-index --force-reinstall \
      --find-links "$wheels" "llama-cpp-python==$llama"
  fi
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c requirements.lock -e ".[$extras]"
  echo "$want" > "$VENV/.personaagent-installed"
fi
export PATH="$PWD/$VENV/bin:$PATH"
