#!/usr/bin/env bash
# Run the socmc checks (installs what it needs on first use): ruff, then the test suite.
# Extra args go to pytest (e.g. `-m slow`, `-n 0` for one process, `-k name`).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
ruff check .
exec python -m pytest "$@"
