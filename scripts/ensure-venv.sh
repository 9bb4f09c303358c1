#!/usr/bin/env bash
# Create .venv (if missing) and install the project editable with dev extras
# when the venv is new or pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=.venv
STAMP=$VENV/.installed

if [[ ! -x $VENV/bin/python ]]; then
    echo "ensure-venv: creating $VENV" >&2
    python3 -m venv "$VENV"
    rm -f "$STAMP"
fi

if [[ ! -f $STAMP || pyproject.toml -nt $STAMP ]]; then
    echo "ensure-venv: installing .[dev] into $VENV" >&2
    "$VENV/bin/python" -m pip install -q -e '.[dev]'
    touch "$STAMP"
fi
