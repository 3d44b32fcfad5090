"""``qmcontract build`` and ``qmcontract validate``: in-process with CliRunner, and once as a subprocess.

Exit codes: 0 success, 1 contract violations, 2 usage error or unreadable input (one line, no traceback).
"""

from __future__ import annotations

import json
import os
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


def test_build_of_a_directory_exits_2(tmp_path: Path) -> None:
    _assert_one_line_usage_error(_invoke("build", str(tmp_path)), "is a directory")


def test_validate_of_a_directory_without_documents_exits_2(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("{}", encoding="utf-8")
    _assert_one_line_usage_error(
        _invoke("validate", str(tmp_path)), "holds no .json, .yaml, .yml, .jsonl file"
    )


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


# --- validate: several sources, directories, JSON lines, --kind, --format json ---------------------------


def _labelled(stdout: str) -> list[tuple[str, str, str]]:
    """(label, pointer, rule) of each ``label: pointer  rule  message`` line."""
    found = []
    for line in stdout.splitlines():
        label, _, rest = line.partition(": ")
        pointer, rule, _ = rest.split("  ", 2)
        found.append((label, pointer, rule))
    return found


def test_validate_several_files_labels_each_line(tmp_path: Path) -> None:
    good = _write(tmp_path, "good.json", _vector(1)["document"])
    bad = _write(tmp_path, "bad.json", _broken_document())
    result = _invoke("validate", str(good), str(bad))
    assert result.exit_code == 1
    assert _labelled(result.stdout) == [
        (str(bad), "/extra", "schema"),
        (str(bad), "/models/1/index", "order-index"),
    ]
    assert result.stderr == "2 document(s): 1 valid, 1 with violations (2 violation(s))\n"


def test_validate_a_directory_reads_every_document_file_in_name_order(tmp_path: Path) -> None:
    document = _vector(0)["document"]
    _write(tmp_path, "b.json", _broken_document())
    _write(tmp_path, "a.yaml", json.dumps(document))
    _write(tmp_path, "c.yml", json.dumps(document))
    _write(tmp_path, "d.jsonl", json.dumps(document) + "\n\n" + json.dumps({**document, "name": "x"}) + "\n")
    _write(tmp_path, "ignored.txt", "not a document")
    result = _invoke("validate", str(tmp_path))
    assert result.exit_code == 1
    assert [(label, rule) for label, _, rule in _labelled(result.stdout)] == [
        (str(tmp_path / "b.json"), "schema"),
        (str(tmp_path / "b.json"), "order-index"),
        (f"{tmp_path / 'd.jsonl'}:3", "schema"),
    ]
    assert result.stderr == "5 document(s): 3 valid, 2 with violations (3 violation(s))\n"


def test_a_bad_json_line_is_one_error_line_and_the_rest_is_still_checked(tmp_path: Path) -> None:
    document = json.dumps(_vector(0)["document"])
    source = _write(tmp_path, "docs.jsonl", f'{document}\n{{"a":\n{"[" * 2000}{"]" * 2000}\n{document}\n')
    result = _invoke("validate", str(source))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"qmcontract: error: {source}:2: not JSON: Expecting value at line 1, column 6",
        f"qmcontract: error: {source}:3: nested deeper than 64 levels",
        "2 document(s): 2 valid, 0 with violations (0 violation(s)), 2 unreadable",
    ]


def test_generated_json_lines_piped_into_validate() -> None:
    lines = _invoke("generate", "--count", "3", "--format", "jsonl").stdout
    result = _invoke("validate", "--no-metadata", "-", stdin=lines)
    assert result.exit_code == 0, result.output
    assert result.stderr == "3 document(s): 3 valid, 0 with violations (0 violation(s))\n"
    invalid = _invoke("generate", "--count", "2", "--invalid", "model-name", "--format", "jsonl").stdout
    documents = "\n".join(json.dumps(json.loads(line)["document"]) for line in invalid.splitlines())
    result = _invoke("validate", "-", stdin=documents)
    assert [(label, rule) for label, _, rule in _labelled(result.stdout)] == [
        ("<stdin>:1", "model-name"),
        ("<stdin>:2", "model-name"),
    ]


def test_validate_and_build_llm_entries() -> None:
    entries = _invoke("generate", "--kind", "llm", "--count", "4", "--format", "jsonl").stdout
    assert _invoke("validate", "--kind", "llm", "-", stdin=entries).exit_code == 0
    assert _invoke("validate", "-", stdin=entries).exit_code == 1  # an entry is not a Query Model
    llm = {
        "id": "openai/gpt-5-mini",
        "mode": "generate",
        "temperature": 1,
        "weight": {"type": "static", "weight": 1},
    }
    built = _invoke("build", "--kind", "llm", "-", stdin=json.dumps(llm))
    assert built.exit_code == 0
    entry = json.loads(built.stdout)
    assert list(entry) == ["name", "id", "mode", "weight"]
    checked = _invoke("validate", "--kind", "llm", "--no-metadata", "-", stdin=built.stdout)
    assert (checked.exit_code, checked.stderr) == (0, "<stdin>: valid\n")
    broken = json.dumps({**entry, "index": 0})
    assert (
        _invoke("validate", "--kind", "llm", "-", stdin=broken).stdout
        == "/index  schema  additionalProperties: unknown field 'index'\n"
    )


def test_json_report_uses_empty_root_pointers_and_text_shows_root() -> None:
    result = _invoke("validate", "--format", "json", "-", stdin="[1, 2]")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["valid"], report["invalid"], report["unreadable"]) == (0, 1, 0)
    [entry] = report["documents"]
    assert entry["source"] == "<stdin>"
    assert entry["valid"] is False
    assert [v["path"] for v in entry["violations"]] == [""]
    assert _invoke("validate", "-", stdin="[1, 2]").stdout.startswith("(root)  schema  ")
    bad = _invoke("build", "-", stdin="[]")
    assert bad.stderr.startswith("<stdin>: (root): schema: ")


def test_json_report_lists_unreadable_sources(tmp_path: Path) -> None:
    good = _write(tmp_path, "good.json", _vector(0)["document"])
    result = _invoke("validate", "--format", "json", str(good), str(tmp_path / "absent.json"))
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["documents"] == [
        {"source": str(good), "valid": True, "violations": []},
        {"source": str(tmp_path / "absent.json"), "error": f"{tmp_path / 'absent.json'}: no such file"},
    ]
    assert result.stderr.splitlines()[0] == f"qmcontract: error: {tmp_path / 'absent.json'}: no such file"


def test_enum_violations_list_every_allowed_value(tmp_path: Path) -> None:
    document = _vector(0)["document"]
    document["models"][0]["mode"] = "thinking"
    document["weight"] = {"type": "dynamic"}
    result = _invoke("validate", str(_write(tmp_path, "document.json", document)))
    modes = '"generate", "select_thinking", "select_non_thinking", "select_thinking_logprobs" or '
    assert (
        f'/models/0/mode  schema  enum: "thinking" is not one of {modes}"select_non_thinking_logprobs"'
        in (result.stdout.splitlines())
    )
    assert '/weight  schema  enum: type: "dynamic" is not one of "static" or "training_table"' in (
        result.stdout.splitlines()
    )


def test_a_definition_without_embeddings_model_reports_only_that() -> None:
    definition = _vector(1)["definition"]
    del definition["weight"]["embeddings_model"]
    result = _invoke("build", "-", stdin=json.dumps(definition))
    assert result.exit_code == 1
    assert result.stderr == '<stdin>: /weight: schema: required: "embeddings_model" is a required property\n'


# --- unreadable input of any kind: one line, exit 2 ------------------------------------------------------

ALIAS_BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(6)
)
HOSTILE = [
    ("deep.json", ("[" * 2000 + "]" * 2000).encode(), "nested deeper than 64 levels"),
    (
        "deep.yaml",
        ("a:\n" + "".join(" " * i + "- \n" for i in range(1, 100))).encode(),
        "nested deeper than 64",
    ),
    ("bomb.yaml", ALIAS_BOMB.encode(), "YAML aliases (*name) are not accepted here"),
    ("huge.json", b'{"weight": ' + b"9" * 5000 + b"}", "an integer longer than 4,300 digits"),
    ("latin1.yaml", "name: caf\xe9".encode("latin-1"), "not UTF-8"),
    ("surrogate.json", b'{"name": "\\ud800"}', "lone surrogate"),
]


@pytest.mark.parametrize("command", ["build", "validate"])
@pytest.mark.parametrize(("name", "content", "fragment"), HOSTILE, ids=[case[0] for case in HOSTILE])
def test_hostile_input_is_one_line(
    tmp_path: Path, command: str, name: str, content: bytes, fragment: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    _assert_one_line_usage_error(_invoke(command, str(path)), fragment)
    result = CliRunner().invoke(cli, [command, "-"], input=content)
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
@pytest.mark.parametrize("command", ["build", "validate"])
def test_a_fifo_is_refused_without_blocking(tmp_path: Path, command: str) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    _assert_one_line_usage_error(_invoke(command, str(fifo)), "not a regular file")
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "dir" / "pipe.jsonl")
    if command == "validate":
        _assert_one_line_usage_error(_invoke(command, str(tmp_path / "dir")), "not a regular file")


# --- help and usage errors in one line ----------------------------------------------------------------


def test_top_level_help_shows_every_summary_whole() -> None:
    text = _invoke("--help").stdout
    commands = text.split("Commands:", 1)[1]
    assert "..." not in commands
    flat = " ".join(commands.split())
    for summary in (
        "build Print the response document a definition builds to",
        "generate Write valid or deliberately broken documents from a seed",
        "validate Check documents or LLM entries against every rule; exit 1 on violations",
    ):
        assert summary in flat


@pytest.mark.parametrize(
    ("command", "example"),
    [
        ("build", "qmcontract build mocks/example1-docs.yaml > doc.json"),
        ("validate", "qmcontract validate doc.json fixtures/ more.jsonl --no-metadata"),
        ("generate", "qmcontract generate --count 100 --seed 42 --out fixtures/"),
    ],
)
def test_each_command_help_has_an_example_on_its_own_line(command: str, example: str) -> None:
    lines = [line.strip() for line in _invoke(command, "--help").stdout.splitlines()]
    assert lines[lines.index("Example:") + 1] == example


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bogus"], "qmcontract: error: No such command 'bogus'."),
        (["--bogus"], "qmcontract: error: No such option '--bogus'."),
        (["validate", "--bogus", "x"], "qmcontract: error: validate: No such option '--bogus'."),
        (["validate", "--kind", "query", "x"], "qmcontract: error: validate: Invalid value for '--kind': "),
        (["build"], "qmcontract: error: build: Missing argument 'FILE|-'."),
    ],
)
def test_usage_errors_are_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(message)


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
