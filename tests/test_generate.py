"""``qmcontract generate`` and the seeded sampler behind it: validity, labelled breaks, determinism,
output layout, and errors. In-process with CliRunner, and once as a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from portability import ascending, bias_keys
from qmcontract import build_query_llm, validate_query_llm, validate_query_model
from qmcontract.breakers import metadata_requested
from qmcontract.canonical import (
    DEFAULTS,
    EMPTY_DEFAULTS,
    LLM_KEYS,
    PROVIDER_DEFAULTS,
    REASONING_DEFAULTS,
    normalise_llm,
)
from qmcontract.catalog import load_catalog
from qmcontract.cli import cli
from qmcontract.errors import QmContractError
from qmcontract.generate import generate_documents, write_json_files
from qmcontract.inputs import load_json_or_yaml
from qmcontract.limits import MAX_GENERATE_COUNT
from qmcontract.model import llm_without_computed
from qmcontract.names import is_name
from qmcontract.resources import mocks_path
from qmcontract.rules import DOCUMENT_RULES, LLM_RULES, METADATA_FIELDS
from qmcontract.sampler import MODES, PARAMETER_VALUES, BitChooser, default_sampler, seeded_chooser

#: sha256 of ``generate <arguments> --format jsonl``. The output must be the same bytes on every machine and
#: supported Python version; change these only with a deliberate change of the sampler (or of names in the
#: core), and say so in the commit. The ``--given-order-keys`` digests are those of the release before
#: portable fixtures: keeping the keys in drawn order reproduces its output byte for byte (the portable
#: default reads the same choices and only writes logit_bias keys in ascending numeric order).
GOLDEN = {
    "--count 40 --seed 7 --metadata": "92fdce6ed30fe77fb09ac5397e39bd77a2daf482ae89e61464cd34c802b1df6e",
    "--count 39 --seed 3 --invalid all": "f4da1077aec55618dca1a23009f23040280b7bb6e31c56941d949c9a966d3871",
    "--count 40 --seed 7 --metadata --given-order-keys": (
        "dca59d12727d8f5fc920cf2b47749bb79fc6a88b288dfac5ec1268ce4a60fead"
    ),
    "--count 39 --seed 3 --invalid all --given-order-keys": (
        "26aeffd9883a867d6da467c1b61bb1e9a6de094bc3d629be04713791dd8694a5"
    ),
    "--kind llm --count 30 --seed 5 --metadata": (
        "93afc20e76840ac498f8e33ce2802c8d0242480cdf1b6e10c958d379ba349606"
    ),
    "--kind llm --count 20 --seed 2 --invalid all": (
        "ced8d42df51ddbcbfdb99e18e79e2fbedb8cf473544273d9c5052a79703668f4"
    ),
}


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["generate", *args], catch_exceptions=False)


def _lines(result: Result) -> list[Any]:
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("metadata", [False, True])
@pytest.mark.parametrize("weight", [None, "static", "training_table"])
def test_every_generated_document_is_valid(weight: Any, metadata: bool):
    items = list(generate_documents(150, seed=11, weight=weight, metadata=metadata))
    assert len(items) == 150
    for item in items:
        assert item.rule is None
        assert validate_query_model(item.document, metadata=metadata) == []
        assert weight in (None, item.document["weight"]["type"])
    if weight is None:
        assert {item.document["weight"]["type"] for item in items} == {"static", "training_table"}


def test_llm_bounds_are_honoured():
    sizes = Counter(len(item.document["models"]) for item in generate_documents(200, min_llms=3, max_llms=5))
    assert set(sizes) == {3, 4, 5}
    [item] = generate_documents(1, min_llms=128, max_llms=128)
    assert len(item.document["models"]) == 128
    assert validate_query_model(item.document, metadata=False) == []


def test_every_invalid_document_reports_its_labelled_rule():
    items = list(generate_documents(20 * len(DOCUMENT_RULES), seed=5, invalid=tuple(DOCUMENT_RULES)))
    assert Counter(item.rule for item in items) == dict.fromkeys(DOCUMENT_RULES, 20)
    for item in items:
        violations = validate_query_model(item.document, metadata=metadata_requested(item.document))
        assert {violation.rule for violation in violations} == {item.rule}, (item.rule, violations)


def test_invalid_documents_honour_weight_and_metadata_where_the_rule_allows():
    items = list(generate_documents(26, invalid=tuple(DOCUMENT_RULES), weight="static", metadata=True))
    for item in items:
        expected = (
            "training_table" if item.rule in ("training-table-name", "training-table-index") else "static"
        )
        assert item.document["weight"]["type"] == expected
        if item.rule not in ("metadata-presence", "llm-count", "schema"):
            assert all(key in item.document for key in METADATA_FIELDS)


def test_same_arguments_same_bytes_and_a_longer_run_extends_a_shorter_one():
    first = _invoke("--count", "30", "--seed", "9", "--format", "jsonl")
    again = _invoke("--count", "30", "--seed", "9", "--format", "jsonl")
    longer = _invoke("--count", "60", "--seed", "9", "--format", "jsonl")
    other = _invoke("--count", "30", "--seed", "10", "--format", "jsonl")
    assert first.stdout_bytes == again.stdout_bytes
    assert longer.stdout_bytes.startswith(first.stdout_bytes)
    assert other.stdout_bytes != first.stdout_bytes


@pytest.mark.parametrize(("args", "digest"), list(GOLDEN.items()))
def test_output_is_byte_identical_to_the_recorded_run(args: str, digest: str):
    result = _invoke(*args.split(), "--format", "jsonl")
    assert hashlib.sha256(result.stdout_bytes).hexdigest() == digest


def test_json_to_stdout_is_one_array():
    result = _invoke("--count", "12", "--max-llms", "3")
    documents = json.loads(result.stdout)
    assert len(documents) == 12
    assert all(validate_query_model(document, metadata=False) == [] for document in documents)
    assert json.loads(_invoke("--count", "0").stdout) == []


def test_invalid_json_and_jsonl_carry_the_rule():
    wrapped = json.loads(_invoke("--count", "4", "--invalid", "llm-name").stdout)
    assert [entry["rule"] for entry in wrapped] == ["llm-name"] * 4
    lines = _lines(_invoke("--count", "13", "--invalid", "all", "--format", "jsonl"))
    assert [line["rule"] for line in lines] == list(DOCUMENT_RULES)
    assert all(set(line) == {"rule", "document"} for line in lines)


def test_json_files_are_named_by_the_document(tmp_path: Path):
    result = _invoke("--count", "25", "--seed", "2", "--out", str(tmp_path / "out"))
    files = sorted((tmp_path / "out").iterdir())
    assert len(files) == 25
    for path in files:
        document = json.loads(path.read_text(encoding="utf-8"))
        assert path.name == f"{document['name']}.json"
        assert validate_query_model(document, metadata=False) == []
    assert result.stderr.strip() == f"qmcontract: wrote 25 document(s) to {tmp_path / 'out'}"
    assert result.stdout == ""


def test_invalid_json_files_carry_the_rule_in_their_name(tmp_path: Path):
    _invoke("--count", "26", "--invalid", "all", "--out", str(tmp_path))
    files = sorted(tmp_path.iterdir())
    assert len(files) == 26
    rules = Counter()
    for path in files:
        stem, rule, suffix = path.name.rsplit(".", 2)
        assert suffix == "json"
        assert rule in DOCUMENT_RULES
        assert is_name(stem.split("-")[0])
        document = json.loads(path.read_text(encoding="utf-8"))
        found = validate_query_model(document, metadata=metadata_requested(document))
        assert {violation.rule for violation in found} == {rule}
        rules[rule] += 1
    assert rules == dict.fromkeys(DOCUMENT_RULES, 2)


def test_jsonl_to_a_directory(tmp_path: Path):
    _invoke("--count", "7", "--format", "jsonl", "--out", str(tmp_path))
    assert [path.name for path in tmp_path.iterdir()] == ["documents.jsonl"]
    lines = (tmp_path / "documents.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 7


def test_repeated_names_get_a_suffix_instead_of_overwriting(tmp_path: Path):
    [item] = generate_documents(1)
    assert write_json_files(iter([item, item, item]), tmp_path) == 3
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f"{item.stem}-2.json",
        f"{item.stem}-3.json",
        f"{item.stem}.json",
    ]


def test_out_must_be_a_directory(tmp_path: Path):
    target = tmp_path / "file"
    target.write_text("x", encoding="utf-8")
    result = CliRunner().invoke(cli, ["generate", "--out", str(target)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"qmcontract: error: --out {target}: exists and is not a directory"
    assert target.read_text(encoding="utf-8") == "x"


def test_unknown_rule_is_one_clear_line_listing_the_rules():
    result = CliRunner().invoke(cli, ["generate", "--invalid", "slug-echo"])
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("qmcontract: error: unknown document rule 'slug-echo'; valid: all, schema, ")
    assert all(rule in line for rule in DOCUMENT_RULES)


@pytest.mark.parametrize(
    "args",
    [["--count", "-1"], ["--weight", "dynamic"], ["--format", "xml"], ["--seed", "-3"], ["--min-llms", "0"]],
)
def test_bad_options_are_one_line(args: list[str]):
    result = CliRunner().invoke(cli, ["generate", *args])
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("qmcontract: error: ")


def test_min_above_max_is_a_usage_error(tmp_path: Path):
    result = CliRunner().invoke(
        cli, ["generate", "--min-llms", "9", "--max-llms", "2", "--out", str(tmp_path / "d")]
    )
    assert not (tmp_path / "d").exists()
    assert result.exit_code == 2
    assert result.stderr.strip() == "qmcontract: error: need 1 <= min_llms <= max_llms <= 128, got 9 and 2"


def test_progress_goes_to_stderr_only():
    plain = _invoke("--count", "120", "--format", "jsonl", "--no-progress")
    shown = _invoke("--count", "120", "--format", "jsonl", "--progress")
    assert shown.stdout_bytes == plain.stdout_bytes
    assert plain.stderr == ""
    assert "generating" in shown.stderr


def test_library_rejects_unknown_rules_and_bad_bounds():
    with pytest.raises(QmContractError, match="unknown document rule"):
        generate_documents(1, invalid=("nope",))
    with pytest.raises(QmContractError, match="weight must be"):
        generate_documents(1, weight="dynamic")  # type: ignore[arg-type]
    with pytest.raises(QmContractError, match="min_llms"):
        generate_documents(1, min_llms=3, max_llms=2)


def test_bit_chooser_reads_zero_bits_as_the_lowest_choice_and_stays_in_range():
    zero = BitChooser(lambda: 0)
    assert [zero.integer(5, 9), zero.integer(-3, 40), zero.integer(0, 2**90 - 1), zero.integer(7, 7)] == [
        5,
        -3,
        0,
        7,
    ]
    ones = BitChooser(lambda: 2**256 - 1)
    assert [ones.integer(5, 9), ones.integer(0, 1), ones.integer(0, 2**90 - 1)] == [9, 1, 2**90 - 1]
    chooser = seeded_chooser(1)
    drawn = Counter(chooser.integer(0, 4) for _ in range(5000))
    assert set(drawn) == {0, 1, 2, 3, 4}
    assert min(drawn.values()) > 800


def _console_script() -> str:
    beside = Path(sys.executable).parent / "qmcontract"
    found = str(beside) if beside.is_file() else shutil.which("qmcontract")
    assert found, "the qmcontract console script is not installed"
    return found


def test_generate_as_a_subprocess():
    completed = subprocess.run(
        [_console_script(), "generate", "--count", "3", "--format", "jsonl"],
        capture_output=True,
        check=True,
    )
    assert completed.stdout == _invoke("--count", "3", "--format", "jsonl").stdout_bytes
    assert completed.stderr == b""


# --- the sampler's defaults come from canonical ------------------------------------------------------


def test_every_optional_parameter_has_a_value_sampler_in_hash_order():
    assert list(PARAMETER_VALUES) == [key for key in LLM_KEYS if key not in ("id", "mode", "weight")]
    assert set(DEFAULTS) | set(EMPTY_DEFAULTS) <= set(PARAMETER_VALUES)


@pytest.mark.parametrize("key", [key for key in PARAMETER_VALUES if key != "reasoning_effort"])
def test_default_samplers_write_canonicals_defaults_which_normalisation_drops(key: str):
    chooser = seeded_chooser(4)
    written = []
    for mode in MODES:
        llm = {"id": "openai/gpt-5-mini", "mode": mode, "weight": {"type": "static", "weight": 1}}
        for _ in range(12):
            value = default_sampler(key)(chooser, llm)
            written.append(value)
            assert key not in normalise_llm({**llm, key: value}), (key, value)
    if key in DEFAULTS:
        assert all(value == DEFAULTS[key] for value in written)
    if key == "provider":
        assert {sub for value in written for sub in value} == set(PROVIDER_DEFAULTS)
    if key == "reasoning":
        assert {sub for value in written for sub in value} == set(REASONING_DEFAULTS)


# --- LLM entries: --kind llm ---------------------------------------------------------------------------


@pytest.mark.parametrize("metadata", [False, True])
def test_every_generated_llm_entry_is_valid_and_what_post_query_llms_answers(metadata: bool):
    items = list(generate_documents(120, seed=3, kind="llm", metadata=metadata))
    for item in items:
        entry = item.document
        assert validate_query_llm(entry, metadata=metadata) == []
        core = {key: value for key, value in entry.items() if key not in METADATA_FIELDS}
        assert json.dumps(build_query_llm(llm_without_computed(entry))) == json.dumps(core)
    assert {item.document["weight"]["type"] for item in items} == {"static", "training_table"}


def test_every_invalid_llm_entry_reports_its_labelled_rule():
    items = list(generate_documents(30 * len(LLM_RULES), seed=8, kind="llm", invalid=LLM_RULES))
    assert Counter(item.rule for item in items) == dict.fromkeys(LLM_RULES, 30)
    for item in items:
        found = validate_query_llm(item.document, metadata=metadata_requested(item.document))
        assert {violation.rule for violation in found} == {item.rule}, (item.rule, found)


def test_llm_entries_as_files_are_named_by_the_entry(tmp_path: Path):
    _invoke("--kind", "llm", "--count", "6", "--invalid", "all", "--weight", "static", "--out", str(tmp_path))
    files = sorted(tmp_path.iterdir())
    assert len(files) == 6
    for path in files:
        _stem, rule, _ = path.name.rsplit(".", 2)
        assert rule in LLM_RULES
        entry = json.loads(path.read_text(encoding="utf-8"))
        assert {v.rule for v in validate_query_llm(entry, metadata=metadata_requested(entry))} == {rule}


@pytest.mark.parametrize("option", [["--min-llms", "2"], ["--max-llms", "16"]])
def test_model_only_options_are_a_usage_error_with_kind_llm(option: list[str]):
    result = CliRunner().invoke(cli, ["generate", "--kind", "llm", *option])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert (
        result.stderr
        == f"qmcontract: error: generate: {option[0]} bounds a Query Model's LLMs; not with --kind llm\n"
    )


def test_a_rule_that_needs_a_whole_model_is_refused_with_kind_llm():
    result = CliRunner().invoke(cli, ["generate", "--kind", "llm", "--invalid", "order-index"])
    assert result.exit_code == 2
    assert result.stderr == (
        "qmcontract: error: rule 'order-index' does not apply to one LLM entry (--kind llm); "
        f"valid: all, {', '.join(LLM_RULES)}\n"
    )
    with pytest.raises(QmContractError, match="do not apply to kind llm"):
        generate_documents(1, kind="llm", min_llms=2)


# --- bounds, output paths, help --------------------------------------------------------------------------


def test_count_is_bounded_in_one_line():
    result = CliRunner().invoke(cli, ["generate", "--count", str(MAX_GENERATE_COUNT + 1)])
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("qmcontract: error: generate: ")
    assert "10000000" in line


def test_out_is_checked_before_any_document_is_made(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    result = CliRunner().invoke(cli, ["generate", "--out", str(blocker / "sub")])
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"qmcontract: error: --out {blocker / 'sub'}: cannot create the directory")
    (tmp_path / "d" / "documents.jsonl").mkdir(parents=True)
    result = CliRunner().invoke(cli, ["generate", "--format", "jsonl", "--out", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert result.stderr == f"qmcontract: error: --out {tmp_path / 'd' / 'documents.jsonl'}: is a directory\n"


def test_a_missing_out_directory_is_created(tmp_path: Path):
    target = tmp_path / "a" / "b"
    result = _invoke("--count", "2", "--format", "jsonl", "--out", str(target))
    assert result.exit_code == 0
    assert len((target / "documents.jsonl").read_text(encoding="utf-8").splitlines()) == 2


def test_help_has_an_example_and_lists_the_rule_ids():
    text = " ".join(_invoke("--help").stdout.split())
    assert "Example: qmcontract generate --count 100 --seed 42 --out fixtures/" in text
    assert all(rule in text.replace("- ", "-") for rule in [*DOCUMENT_RULES, *LLM_RULES])


# --- portable fixtures -------------------------------------------------------------------------------------


def test_shipped_definitions_and_documents_have_ascending_logitbias_keys():
    written = [load_json_or_yaml(path) for path in sorted(mocks_path().glob("*.yaml"))]
    built = list(load_catalog())
    assert len(written) == len(built) == 13
    for value in (written, built):
        keys = bias_keys(value)
        assert sum(len(k) > 1 for k in keys) >= 5, "several multi-key biases are covered"
        assert all(ascending(k) for k in keys), [k for k in keys if not ascending(k)]


@pytest.mark.parametrize(
    "args", [[], ["--invalid", "all"], ["--kind", "llm"], ["--kind", "llm", "--invalid", "all"]]
)
def test_generated_documents_are_portable_by_default(args: list[str]):
    documents = _lines(_invoke("--count", "150", "--seed", "1", "--format", "jsonl", *args))
    keys = bias_keys(documents)
    assert any(len(k) > 1 for k in keys)
    assert all(ascending(k) for k in keys if all(key.isdigit() for key in k))


def test_given_order_keys_keeps_keys_as_drawn_with_the_same_choices():
    portable = _lines(_invoke("--count", "60", "--seed", "1", "--format", "jsonl"))
    drawn = _lines(_invoke("--count", "60", "--seed", "1", "--format", "jsonl", "--given-order-keys"))
    assert not all(ascending(k) for k in bias_keys(drawn))
    assert sorted(map(sorted, bias_keys(drawn))) == sorted(map(sorted, bias_keys(portable)))
    assert [len(d["models"]) for d in drawn] == [len(d["models"]) for d in portable]
