#!/usr/bin/env bash
# Proves the pytest plugin works from the wheel alone: build qmcontract's wheel, install it with pytest
# into a fresh virtualenv, and run this example's tests from a copy outside the checkout, so that
# nothing can resolve to the source tree. Uses $PYTHON (default: python3), which needs `build`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== downstream: building the qmcontract wheel"
"$python" -m build --wheel --outdir "$work/dist" "$root" >"$work/build.log" 2>&1 || {
    cat "$work/build.log" >&2
    exit 1
}
wheels=("$work"/dist/qmcontract-*.whl)

echo "== downstream: installing ${wheels[0]##*/} and pytest into a fresh virtualenv"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "${wheels[0]}" "pytest>=8.3,<10"

cp -R "$here" "$work/downstream"
find "$work/downstream" \( -name __pycache__ -o -name .pytest_cache \) -prune -exec rm -rf {} +
cd "$work/downstream"

echo "== downstream: running the example's tests from $work/downstream"
env -u PYTHONPATH -u PYTEST_ADDOPTS -u PYTEST_PLUGINS -u PYTEST_DISABLE_PLUGIN_AUTOLOAD \
    "$work/venv/bin/python" - "$work/venv" <<'PY'
import sys
from pathlib import Path

import qmcontract.plugin
import qmcontract.resources

venv = Path(sys.argv[1]).resolve()
for path in (Path(qmcontract.plugin.__file__), qmcontract.resources.mocks_path()):
    if venv not in path.resolve().parents:
        sys.exit(f"downstream: {path} is not inside the wheel's virtualenv {venv}")
PY
env -u PYTHONPATH -u PYTEST_ADDOPTS -u PYTEST_PLUGINS -u PYTEST_DISABLE_PLUGIN_AUTOLOAD \
    "$work/venv/bin/python" -m pytest tests -p no:cacheprovider
