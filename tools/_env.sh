# Sourced by tools/run.sh and tools/test.sh: find Python >= 3.12, create .venv, install socmc.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
find_python() {
  for cand in python3.12 python3.13 python3.14 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      echo "$cand"; return 0
    fi
  done
  echo "socmc needs Python >= 3.12 (python3.12 not found on PATH)" >&2
  return 1
}
VENV="${SOCMC_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  PY="$(find_python)"
  echo "[socmc] creating virtual environment $VENV with $PY" >&2
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.socmc-install-stamp"
WANT="$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "[socmc] installing socmc and its dependencies into $VENV (first run only)" >&2
  "$VENV/bin/python" -m pip install -q --upgrade pip >&2
  "$VENV/bin/python" -m pip install -q -e ".[dev]" --config-settings editable_mode=compat >&2
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
export PYTHONUNBUFFERED=1
