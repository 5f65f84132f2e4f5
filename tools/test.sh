#!/usr/bin/env bash
# Run the socmc test suite (installs what it needs on first use). Extra args go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
exec python -m pytest "$@"
