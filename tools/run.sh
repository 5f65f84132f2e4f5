#!/usr/bin/env bash
# Run the main socmc job on the embedded default data (installs what it needs on first use).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
exec socmc run "$@"
