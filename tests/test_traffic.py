"""Recorded traffic: the JSON-lines format, the passive judge, and ``qmcontract check-traffic``.

The fixtures under ``tests/data/traffic/`` are real exchanges of the engine (``generate.py``
there): ``good.*`` is correct traffic, ``broken-<rule>.*`` the answers of an engine broken in that
rule, ``malformed-*`` files that must be refused before anything is judged.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from qmcontract.catalog import load_catalog
from qmcontract.cli import cli
from qmcontract.conformance import exchange as build
from qmcontract.conformance.traffic import TrafficJudge
from qmcontract.engine import Engine
from qmcontract.limits import TRAFFIC_WINDOWS_PER_NAME
from qmcontract.recording import (
    CallerLabels,
    Recorded,
    RecordingError,
    decoded,
    from_line,
    parse_time,
    read_recording,
    to_line,
)
from qmcontract.traffic_files import open_traffic
from qmcontract.wire import Request, encode_json, json_response

DATA = Path(__file__).parent / "data" / "traffic"
SECRET = "sk-fixture-secret"
DAY = datetime(2025, 11, 3, 10, 0, tzinfo=timezone.utc)
GOOD = ["good.har", "good.yaml", "good.jsonl"]
BROKEN = {
    "broken-schema.har": "schema",
    "broken-content-type.yaml": "content-type",
    "broken-metadata-window.jsonl": "metadata-window",
}
MALFORMED = {
    "malformed-not-json.har": "neither JSON nor YAML at line 2",
    "malformed-structure.har": "log.entries[1].response.status: expected an integer",
    "malformed-bomb.yaml": "YAML aliases expand it beyond 10x its size",
    "malformed-version.jsonl": "line 4: version 7 is not 1",
}


def _check(*args: str) -> Result:
    return CliRunner().invoke(cli, ["check-traffic", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_catalog(), clock=lambda: DAY)


def _recorded(engine: Engine, request: Request, *, at: datetime = DAY, hook: object = None) -> Recorded:
    response = engine.handle(request)
    return Recorded(at, request, response.status, response.headers, response.body)


# --- check-traffic on files -------------------------------------------------------------------------


@pytest.mark.parametrize("name", GOOD)
def test_correct_traffic_says_nothing_but_the_summary(name: str):
    result = _check(str(DATA / name))
    assert result.exit_code == 0, result.output
    assert "Failures" not in result.stdout
    assert "failed" not in result.stdout.splitlines()[-1]
    assert "exchanges:" in result.stdout
    assert "judged" in result.stdout
    assert SECRET not in result.output


@pytest.mark.parametrize(("name", "rule"), BROKEN.items())
def test_broken_traffic_fails_under_the_broken_rule(name: str, rule: str, tmp_path: Path):
    report = tmp_path / "report.json"
    result = _check(str(DATA / name), "--report", str(report))
    assert result.exit_code == 1, result.output
    found = json.loads(report.read_text(encoding="utf-8"))
    assert {failure["rule"] for failure in found["failures"]} == {rule}
    assert found["exit_code"] == 1
    assert all(failure["curl"].startswith("curl ") for failure in found["failures"])
    assert SECRET not in result.output
    assert SECRET not in report.read_text(encoding="utf-8")


@pytest.mark.parametrize(("name", "fragment"), MALFORMED.items())
def test_a_malformed_file_is_one_line_and_exit_2_before_any_checking(name: str, fragment: str):
    result = _check(str(DATA / "good.har"), str(DATA / name))
    assert result.exit_code == 2
    assert result.stdout == ""  # no table: nothing was judged
    errors = [line for line in result.stderr.splitlines() if line.startswith("qmcontract: error:")]
    assert len(errors) == 1, result.stderr
    assert name in errors[0]
    assert fragment in errors[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "empty"),
        ("just text\n", "neither a HAR file"),
        ('{"log": {"entries": {}}}', "log.entries: expected a list"),
        ('{"interactions": [{"request": {"method": "GET"}}]}', "interactions[0].response: missing"),
        ('{"version": 1, "time": "2025-11-03T10:00:00Z", "request": {}}\n', "line 1: response: missing"),
        ("[" * 200 + "]" * 200, "nested deeper than 64 levels"),
    ],
)
def test_odd_files_are_refused_with_the_place(tmp_path: Path, content: str, fragment: str):
    path = tmp_path / "odd.json"
    path.write_text(content, encoding="utf-8")
    result = _check(str(path))
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.output


def test_a_directory_or_missing_file_is_refused(tmp_path: Path):
    assert "is a directory" in _check(str(tmp_path)).stderr
    missing = _check(str(tmp_path / "none.har"))
    assert missing.exit_code == 2
    assert "no such file" in missing.stderr


def test_other_urls_are_counted_and_skipped():
    result = _check(str(DATA / "good.har"))
    assert "1 to other URLs" in result.stdout
    assert "API root https://api.example.test/v1" in result.stderr


def test_a_base_url_outside_the_recording_skips_everything():
    result = _check(str(DATA / "good.har"), "--base-url", "https://elsewhere.example.test")
    assert result.exit_code == 0
    assert "0 judged" in result.stdout
    assert "18 to other URLs" in result.stdout


def test_report_paths_are_checked_before_any_work(tmp_path: Path):
    result = _check(str(DATA / "good.har"), "--html", str(tmp_path / "missing" / "r.html"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert result.stdout == ""


def test_several_files_make_one_report_and_the_writers_agree(tmp_path: Path):
    paths = [str(DATA / name) for name in (*GOOD, "broken-schema.har")]
    json_path, junit, html = tmp_path / "r.json", tmp_path / "r.xml", tmp_path / "r.html"
    result = _check(*paths, "--report", str(json_path), "--junit-xml", str(junit), "--html", str(html))
    assert result.exit_code == 1
    report = json.loads(json_path.read_text(encoding="utf-8"))
    assert report["title"] == "qmcontract check-traffic"
    assert report["settings"]["exchanges"] == 18 + 17 + 17 + 18
    assert "schema" in junit.read_text(encoding="utf-8")
    assert "<html" in html.read_text(encoding="utf-8")


def test_the_cassette_reads_aliases_and_gzipped_binary_bodies():
    traffic = open_traffic(DATA / "good.yaml")
    entries = [recorded for _, recorded in traffic.entries() if recorded is not None]
    gzipped = entries[3]
    assert ("content-encoding", "gzip") in gzipped.headers
    assert decoded(gzipped).body.startswith(b'{"name":')
    assert entries[5].request.headers == entries[1].request.headers  # the anchored headers, by alias
    assert all(recorded.time is not None for recorded in entries)  # from the Date header


# --- the recording format ---------------------------------------------------------------------------


def test_a_recording_line_round_trips_with_secrets_redacted(engine: Engine):
    request = build.model(
        engine.catalog.names()[1],
        [("metadata", "true"), ("me", "true"), ("api_key", "k")],
        authorization=SECRET,
    )
    original = _recorded(engine, replace(request, body=b"\xff\x00binary"))
    labels = CallerLabels()
    line = to_line(original, labels, base_url="http://127.0.0.1:9")
    assert SECRET not in line
    assert "api_key=<redacted>" in line
    assert '"body_base64":true' in line
    read = from_line(line, "test")
    assert read.request.body == b"\xff\x00binary"
    assert read.body == original.body
    assert read.request.authorization == "<redacted>"
    assert read.caller == labels(SECRET)
    assert read.caller != CallerLabels()(SECRET)
    assert read.time == DAY
    assert read.status == original.status


def test_reading_a_recording_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import qmcontract.recording as recording  # noqa: PLC0415

    path = tmp_path / "r.jsonl"
    path.write_text((DATA / "good.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    assert len(list(read_recording(path))) == 17
    monkeypatch.setattr(recording, "MAX_RECORDING_LINE_BYTES", 100)
    with pytest.raises(RecordingError, match=r"line 1: longer than 100 bytes"):
        list(read_recording(path))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-11-03T10:00:00Z", DAY),
        ("2025-11-03T11:00:00.5+01:00", DAY + timedelta(microseconds=500_000)),
        ("2025-11-03t10:00:00.1234567z", DAY + timedelta(microseconds=123_456)),
        ("2025-11-03", None),
        ("2025-13-03T10:00:00Z", None),
        (12, None),
    ],
)
def test_times_are_read_as_rfc_3339(text: object, expected: datetime | None):
    assert parse_time(text) == expected


def test_bodies_are_decoded_for_judging_within_a_bound(engine: Engine):
    plain = _recorded(engine, build.model(engine.catalog.names()[1]))
    zipped = replace(
        plain, body=gzip.compress(plain.body), headers=(*plain.headers, ("content-encoding", "gzip"))
    )
    assert decoded(zipped).body == plain.body
    bomb = replace(zipped, body=gzip.compress(b" " * 200_000))
    assert not decoded(bomb, limit=1000).body_kept
    unknown = replace(plain, headers=(*plain.headers, ("content-encoding", "br")))
    assert not decoded(unknown).body_kept


# --- the passive judge -------------------------------------------------------------------------------


def _failures(judge: TrafficJudge) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for failure in judge.ledger.failures():
        found.setdefault(failure.rule, []).extend(v.message for v in failure.violations)
    return found


def test_a_refused_token_is_not_a_violation(engine: Engine):
    judge = TrafficJudge("http://x")
    name = engine.catalog.names()[1]
    request = build.model(name, [("metadata", "true"), ("me", "true")], authorization="Bearer refused")
    refused = json_response(401, encode_json({"code": 401, "message": "refused"}))
    judge(Recorded(DAY, request, 401, refused.headers, refused.body), "t")
    judge(_recorded(engine, build.model(name)), "t")
    judge(Recorded(DAY, request, 401, refused.headers, refused.body), "t")
    assert _failures(judge) == {}


def test_a_served_name_that_vanishes_is_caught(engine: Engine):
    judge = TrafficJudge("http://x")
    name = engine.catalog.names()[1]
    judge(_recorded(engine, build.model(name)), "t")
    missing = json_response(404, encode_json({"code": 404, "message": "gone"}))
    judge(Recorded(DAY, build.model(name), 404, missing.headers, missing.body), "t")
    assert "slug-echo" in _failures(judge)


def test_stable_compares_within_one_utc_day(engine: Engine):
    name = engine.catalog.names()[1]
    first = _recorded(engine, build.model(name, [("metadata", "true")]))
    document = json.loads(first.body)
    changed = replace(first, body=encode_json({**document, "created": "2025-10-04T00:00:00Z"}))
    judge = TrafficJudge("http://x")
    judge(first, "t")
    judge(replace(changed, time=DAY + timedelta(days=1)), "t")
    assert "stable" not in _failures(judge)
    judge(replace(changed, time=DAY + timedelta(days=1, seconds=5)), "t")
    judge(replace(first, time=DAY + timedelta(days=1, seconds=9)), "t")
    assert "/created" in json.dumps([f.to_json() for f in judge.ledger.failures()])
    counters = {**document, "requests": document["requests"] + 1}
    quiet = TrafficJudge("http://x")
    quiet(first, "t")
    quiet(replace(first, body=encode_json(counters)), "t")
    assert _failures(quiet) == {}  # counters aside


def test_the_list_must_repeat_only_within_a_minute(engine: Engine):
    listing = _recorded(engine, build.listing())
    shorter = replace(listing, body=encode_json({"data": json.loads(listing.body)["data"][:-1]}))
    later = TrafficJudge("http://x")
    later(listing, "t")
    later(replace(shorter, time=DAY + timedelta(minutes=5)), "t")
    assert "stable" not in _failures(later)
    soon = TrafficJudge("http://x")
    soon(listing, "t")
    soon(replace(shorter, time=DAY + timedelta(seconds=5)), "t")
    assert "stable" in _failures(soon)


@pytest.mark.parametrize("plain_first", [True, False])
def test_ignored_params_compare_both_ways(engine: Engine, plain_first: bool):
    name = engine.catalog.names()[1]
    plain = _recorded(engine, build.model(name))
    ignored = _recorded(engine, build.model(name, [("from", "garbage")]))
    refused = json_response(400, encode_json({"code": 400, "message": "bad from"}))
    broken = replace(ignored, status=400, headers=refused.headers, body=refused.body)
    judge = TrafficJudge("http://x")
    for recorded in (plain, broken) if plain_first else (broken, plain):
        judge(recorded, "t")
    failures = judge.ledger.failures()
    assert [failure.rule for failure in failures] == ["ignored-params"]
    assert "from=garbage" in failures[0].request  # reported on the request that carried them


def test_metadata_window_pairs_answers_of_one_name(engine: Engine):
    name = engine.catalog.names()[1]
    window = [("metadata", "true"), ("from", "2025-10-01T00:00:00Z"), ("to", "2025-11-03T00:00:00Z")]
    narrow = _recorded(engine, build.model(name, window))
    wide = _recorded(engine, build.model(name, [("metadata", "true")]))
    mine = _recorded(engine, build.model(name, [*window, ("me", "true")], authorization="Bearer t"))
    judge = TrafficJudge("http://x")
    for recorded in (narrow, wide, mine):
        judge(recorded, "t")
    assert _failures(judge) == {}
    ran = {
        sub.subcheck
        for row in judge.ledger.rows(judge.context.facts)
        if row.rule == "metadata-window"
        for sub in row.subchecks
        if sub.checked
    }
    assert ran == {"unbounded", "me-not-above"}
    inflated = json.loads(narrow.body) | {"requests": json.loads(wide.body)["requests"] + 1}
    judge(replace(narrow, body=encode_json(inflated), time=DAY + timedelta(seconds=1)), "t")
    assert "/requests" in json.dumps([f.to_json() for f in judge.ledger.failures()])


def test_memory_stays_bounded_over_many_distinct_requests(engine: Engine):
    judge = TrafficJudge("http://x", memory_keys=64)
    name = engine.catalog.names()[1]
    base = _recorded(engine, build.model(name, [("metadata", "true")]))
    for i in range(300):
        at = f"2025-10-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z"
        judge(
            replace(base, request=build.model(name, [("metadata", "true"), ("from", at), ("x", str(i))])), "t"
        )
    assert len(judge._memory._items) <= 64
    assert all(len(windows) <= TRAFFIC_WINDOWS_PER_NAME for windows in judge._windows._items.values())
    assert len(judge._seen) <= 64
    assert judge.counts.judged == 300


def test_exchanges_without_a_time_skip_the_stateful_rules(engine: Engine):
    judge = TrafficJudge("http://x")
    name = engine.catalog.names()[1]
    first = _recorded(engine, build.model(name))
    judge(replace(first, time=None), "t")
    judge(replace(first, time=None, body=first.body.replace(b'"models"', b'"modelz"')), "t")
    assert "stable" not in _failures(judge)
    assert judge.counts.without_time == 2


def test_an_answer_to_head_is_judged_without_a_body(engine: Engine):
    judge = TrafficJudge("http://x")
    request = Request("HEAD", "/query_models/not-a-name")
    answer = engine.handle(request)
    judge(Recorded(DAY, request, answer.status, answer.headers, b""), "t")
    assert answer.status == 404
    assert _failures(judge) == {}
    assert judge.ledger.rows(judge.context.facts)[0].rule == "schema"
    assert any(row.rule == "not-found" and row.checked == 1 for row in judge.ledger.rows(judge.context.facts))
