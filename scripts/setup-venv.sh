#!/usr/bin/env bash
# Create/refresh the project's Python venv at <repo>/.venv.
#
# Idempotent: the requirements are (re)installed only when the sha256 of
# scripts/requirements.txt differs from the stamp written after the last
# successful install. The no-op path prints nothing.
#
# Env: PYTHON (default python3) picks the interpreter used to create the venv.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
req="$root/scripts/requirements.txt"
stamp="$venv/.requirements.sha256"
py="${PYTHON:-python3}"

want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi

start=$SECONDS
if [[ ! -x "$venv/bin/python" ]]; then
    echo "setup-venv: creating $venv"
    "$py" -m venv "$venv"
fi
echo "setup-venv: installing $(basename "$req") (sha256 ${want:0:12})"
rm -f "$stamp"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
echo "setup-venv: done in $((SECONDS - start))s"
