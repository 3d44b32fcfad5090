"""A base install (no extras) is enough for the core, build/validate/generate and the respx plugin;
what needs an extra says which one, in one line.

The extras' packages are hidden from a subprocess (``sys.modules[name] = None`` makes both ``import``
and ``importlib.util.find_spec`` see them as missing), which is what a base install looks like to
qmcontract. ``examples/downstream/run.sh`` proves the same with a real base install of the wheel.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXTRA_PACKAGES = ("hypothesis", "schemathesis", "uvicorn")
DEFINITION = {
    "weight": {"type": "static"},
    "models": [{"id": "openai/gpt-4o-mini", "mode": "generate", "weight": {"type": "static", "weight": 2}}],
}


def run_without_extras(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that cannot import any extra's packages."""
    hide = f"import sys\nfor _name in {EXTRA_PACKAGES!r}:\n    sys.modules[_name] = None\n"
    return subprocess.run(
        [sys.executable, "-c", hide + code, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_core_cli_and_mock_work_without_extras(tmp_path: Path):
    definition = tmp_path / "model.json"
    definition.write_text(json.dumps(DEFINITION), encoding="utf-8")
    code = """
import httpx
from click.testing import CliRunner
from qmcontract.cli import cli
from qmcontract.respx_mock import mock_query_models

runner = CliRunner()
built = runner.invoke(cli, ["build", sys.argv[1]])
assert built.exit_code == 0, built.output
document = sys.argv[1] + ".doc.json"
open(document, "w").write(built.output)
valid = runner.invoke(cli, ["validate", document])
assert valid.exit_code == 0, valid.output
generated = runner.invoke(cli, ["generate", "--count", "2", "--seed", "1"])
assert generated.exit_code == 0, generated.output
with mock_query_models() as mock:
    assert httpx.get(mock.url("count")).json()["count"] > 0
print("ok")
"""
    completed = run_without_extras(code, str(definition))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().endswith("ok")


@pytest.mark.parametrize(("command", "extra"), [("serve", "server"), ("conformance", "conformance")])
def test_commands_name_their_missing_extra_in_one_line(command: str, extra: str):
    completed = run_without_extras(
        f"from qmcontract.cli import main\nsys.argv = ['qmcontract', {command!r}]\nmain()"
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    (line,) = completed.stderr.splitlines()
    assert line.startswith(f"qmcontract: error: qmcontract {command} needs ")
    assert line.endswith(f"install it with pip install 'qmcontract[{extra}]'")


@pytest.mark.parametrize(
    ("module", "extra"),
    [
        ("qmcontract.strategies", "strategies"),
        ("qmcontract.server", "server"),
    ],
)
def test_modules_name_their_missing_extra(module: str, extra: str):
    code = f"""
from qmcontract.errors import MissingExtra
try:
    import {module}
except MissingExtra as exc:
    print(exc)
"""
    completed = run_without_extras(code)
    assert completed.returncode == 0, completed.stderr
    (line,) = completed.stdout.splitlines()
    assert line.endswith(f"install it with pip install 'qmcontract[{extra}]'")
