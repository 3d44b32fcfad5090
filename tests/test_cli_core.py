"""``qmcontract build`` and ``qmcontract validate``: in-process with CliRunner, and once as a subprocess.

Exit codes: 0 success, 1 contract violations, 2 usage error or unreadable input (one line, no traceback).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from qmcontract.cli import cli
from qmcontract.resources import mocks_path

VECTORS = Path(__file__).parent / "data" / "worked-examples.json"
VIOLATION_LINE = re.compile(r"^(?P<path>/\S*)  (?P<rule>[a-z-]+)  (?P<message>.+)$")
BUILD_LINE = re.compile(r"^(?P<source>.+): (?P<path>/[^:]*): (?P<rule>[a-z-]+): (?P<message>.+)$")


def _vector(example: int) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))[example]
    return vector


def _invoke(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def _write(tmp_path: Path, name: str, value: Any) -> Path:
    path = tmp_path / name
    path.write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")
    return path


def _broken_document() -> dict[str, Any]:
    document = _vector(1)["document"]
    document["models"][1]["index"] = 2
    document["extra"] = True
    return document


# --- build -----------------------------------------------------------------------------------


def test_build_prints_the_document(tmp_path: Path) -> None:
    vector = _vector(1)
    result = _invoke("build", str(_write(tmp_path, "definition.json", vector["definition"])))
    assert result.exit_code == 0, result.stderr
    assert json.dumps(json.loads(result.stdout)) == json.dumps(vector["document"])
    assert result.stderr == ""


def test_build_reads_yaml() -> None:
    result = _invoke("build", str(mocks_path() / "example1-docs.yaml"))
    assert result.exit_code == 0
    assert json.loads(result.stdout) == _vector(0)["document"]


def test_build_reads_standard_input() -> None:
    result = _invoke("build", "-", stdin=json.dumps(_vector(2)["definition"]))
    assert result.exit_code == 0
    assert json.loads(result.stdout) == _vector(2)["document"]


def test_build_of_an_invalid_definition_exits_1_with_one_line_per_violation(tmp_path: Path) -> None:
    definition = _vector(1)["definition"]
    definition["models"][2]["weight"]["min_weight"] = 2.0
    definition["models"][0]["reasoning"] = {"max_tokens": 5, "effort": "low"}
    source = _write(tmp_path, "definition.json", definition)
    result = _invoke("build", str(source))
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = [BUILD_LINE.match(line) for line in result.stderr.splitlines()]
    assert all(lines), result.stderr
    assert {(m["source"], m["path"], m["rule"]) for m in lines if m} == {
        (str(source), "/models/2/weight", "weight-values"),
        (str(source), "/models/0/reasoning", "llm-params"),
    }


# --- validate --------------------------------------------------------------------------------


def test_validate_a_valid_document(tmp_path: Path) -> None:
    source = _write(tmp_path, "document.json", _vector(1)["document"])
    result = _invoke("validate", str(source))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == f"{source}: valid\n"


def test_validate_an_invalid_document_prints_path_rule_message(tmp_path: Path) -> None:
    source = _write(tmp_path, "document.json", _broken_document())
    result = _invoke("validate", str(source))
    assert result.exit_code == 1
    lines = [VIOLATION_LINE.match(line) for line in result.stdout.splitlines()]
    assert all(lines), result.stdout
    assert [(m["path"], m["rule"]) for m in lines if m] == [
        ("/extra", "schema"),
        ("/models/1/index", "order-index"),
    ]
    assert result.stderr == f"{source}: 2 violation(s)\n"


def test_validate_reads_standard_input_as_yaml() -> None:
    document = _vector(0)["document"]
    yaml_text = "\n".join(
        ["name: " + document["name"], "weight: {type: static}", "models:"]
        + [f"  - {json.dumps(llm)}" for llm in document["models"]]
    )
    result = _invoke("validate", "-", stdin=yaml_text)
    assert result.exit_code == 0, result.stdout
    assert result.stderr == "<stdin>: valid\n"


@pytest.mark.parametrize(("flag", "code"), [("--metadata", 1), ("--no-metadata", 0), (None, 0)])
def test_validate_metadata_flag_checks_presence(tmp_path: Path, flag: str | None, code: int) -> None:
    source = _write(tmp_path, "document.json", _vector(0)["document"])
    result = _invoke("validate", *([flag] if flag else []), str(source))
    assert result.exit_code == code
    if code:
        rules = {m["rule"] for line in result.stdout.splitlines() if (m := VIOLATION_LINE.match(line))}
        assert rules == {"metadata-presence"}


def test_validate_a_document_that_is_not_an_object() -> None:
    result = _invoke("validate", "-", stdin="[1, 2]")
    assert result.exit_code == 1
    assert result.stdout.startswith("(root)  schema  ")


# --- unreadable input: exit 2, one line, no traceback ------------------------------------------


def _assert_one_line_usage_error(result: Result, fragment: str) -> None:
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("qmcontract: error: ")
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["build", "validate"])
@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("latin1.json", b"\xff\xfe{}", "not UTF-8"),
        ("broken.yaml", b"weight: [type: static\nmodels: {\n", "neither JSON nor YAML"),
        ("tabs.yaml", b"a:\n\t- b\n", "neither JSON nor YAML"),
        ("empty.json", b"  \n", "empty input"),
    ],
)
def test_unparseable_input_exits_2(
    tmp_path: Path, command: str, name: str, content: bytes, fragment: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    _assert_one_line_usage_error(_invoke(command, str(path)), fragment)


@pytest.mark.parametrize("command", ["build", "validate"])
def test_missing_file_exits_2(tmp_path: Path, command: str) -> None:
    _assert_one_line_usage_error(_invoke(command, str(tmp_path / "absent.json")), "no such file")


@pytest.mark.parametrize("command", ["build", "validate"])
def test_directory_exits_2(tmp_path: Path, command: str) -> None:
    _assert_one_line_usage_error(_invoke(command, str(tmp_path)), "is a directory")


@pytest.mark.parametrize("command", ["build", "validate"])
def test_unreadable_file_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    source = _write(tmp_path, "locked.json", "{}")

    def refuse(self: Path, *args: Any, **kwargs: Any) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    _assert_one_line_usage_error(_invoke(command, str(source)), "cannot read: Permission denied")


@pytest.mark.parametrize("command", ["build", "validate"])
def test_empty_standard_input_exits_2(command: str) -> None:
    _assert_one_line_usage_error(_invoke(command, "-", stdin=""), "<stdin>: empty input")


def test_a_missing_argument_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr


# --- the installed console script, once --------------------------------------------------------


def _console_script() -> str:
    beside = Path(sys.executable).parent / "qmcontract"
    found = str(beside) if beside.is_file() else shutil.which("qmcontract")
    assert found, "the qmcontract console script is not installed"
    return found


def test_the_installed_console_script_validates_standard_input() -> None:
    completed = subprocess.run(
        [_console_script(), "validate", "--no-metadata", "-"],
        input=json.dumps(_broken_document()),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1, completed.stderr
    assert [line.split("  ")[:2] for line in completed.stdout.splitlines()] == [
        ["/extra", "schema"],
        ["/models/1/index", "order-index"],
    ]
    assert completed.stderr == "<stdin>: 2 violation(s)\n"
