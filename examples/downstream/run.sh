#!/usr/bin/env bash
# Proves the pytest plugin works from the wheel's base install alone: build qmcontract's wheel, install it
# WITHOUT extras, with pytest, into a fresh virtualenv, check that no extra came along and that the CLI's
# core commands work (and the others name their extra in one line), then run this example's tests from a
# copy outside the checkout, so that nothing can resolve to the source tree.
# Uses $PYTHON (default: python3), which needs `build`.
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

echo "== downstream: installing ${wheels[0]##*/} (base install, no extras) and pytest into a fresh virtualenv"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "${wheels[0]}" "pytest>=8.3,<10"

echo "== downstream: no extra came with the base install"
"$work/venv/bin/python" - <<'PY'
import importlib.util
import sys

present = [name for name in ("hypothesis", "schemathesis", "uvicorn") if importlib.util.find_spec(name)]
if present:
    sys.exit(f"downstream: the base install pulled {', '.join(present)}")
PY

echo "== downstream: build, validate and generate work; serve and conformance name their extra"
qm="$work/venv/bin/qmcontract"
printf '%s' '{"weight": {"type": "static"}, "models": [{"id": "openai/gpt-4o-mini", "mode": "generate",
  "weight": {"type": "static", "weight": 2}}]}' >"$work/definition.json"
"$qm" build "$work/definition.json" >"$work/document.json"
"$qm" validate "$work/document.json" >/dev/null
"$qm" generate --count 2 --seed 1 >/dev/null
for pair in serve:server conformance:conformance; do
    command=${pair%%:*} extra=${pair##*:}
    status=0
    "$qm" "$command" >"$work/out" 2>"$work/err" || status=$?
    if [ "$status" -ne 2 ] || [ -s "$work/out" ] || [ "$(wc -l <"$work/err")" -ne 1 ] ||
        ! grep -q "pip install 'qmcontract\[$extra\]'" "$work/err"; then
        echo "downstream: qmcontract $command without its extra: exit $status, expected one line naming [$extra]:" >&2
        cat "$work/err" >&2
        exit 1
    fi
done

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
