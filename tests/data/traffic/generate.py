"""Writes the traffic fixtures of ``tests/test_traffic.py`` from real exchanges of the engine.

Run from the repository root: ``python tests/data/traffic/generate.py``. Every exchange is the
engine's own answer (the shipped catalogue, the clock fixed at :data:`DAY`), so the ``good``
files hold correct traffic; the ``broken`` files hold the answers of deliberately broken engines
(:mod:`qmcontract.conformance.mutations`). The malformed files are written by hand below.
"""

from __future__ import annotations

import base64
import gzip
import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

from qmcontract.catalog import load_catalog
from qmcontract.conformance import exchange as build
from qmcontract.conformance.mutations import mutation
from qmcontract.engine import Engine
from qmcontract.recording import CallerLabels, Recorded, to_line
from qmcontract.wire import Request

HERE = Path(__file__).parent
ROOT = "https://api.example.test/v1"
DAY = datetime(2025, 11, 3, 10, 0, tzinfo=timezone.utc)
TOKEN = "Bearer sk-fixture-secret-0123456789"
BOMB = """\
a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
interactions: [*f, *f, *f, *f, *f, *f, *f, *f, *f]
"""


def requests(names: list[str], llms: list[str]) -> list[Request]:
    """A client's session: every route, errors included, windows written two ways, a repeat."""
    name = names[1]
    window = [("metadata", "true"), ("from", "2025-10-01T00:00:00Z"), ("to", "2025-11-03T00:00:00Z")]
    shifted = [
        ("metadata", "true"),
        ("from", "2025-10-01T01:00:00+01:00"),
        ("to", "2025-11-03T01:00:00+01:00"),
    ]
    return [
        build.listing(),
        build.count(),
        build.global_metadata(),
        build.model(name),
        build.model(name),
        build.model(name, [("metadata", "true")]),
        build.model(name, window),
        build.model(name, shifted),
        build.model(name, [*window, ("me", "true")], authorization=TOKEN),
        build.model(name, [("me", "true"), ("from", "not-a-date")]),
        build.model(names[2], [("metadata", "true")]),
        build.model("not-a-name"),
        build.model(name, [("metadata", "yes")]),
        build.model(name, [("metadata", "true"), ("me", "true")]),
        build.llm(llms[0]),
        build.llm(llms[0], [("metadata", "true")]),
        build.listing([("count", "2"), ("sort", "cost")]),
    ]


def exchanges(engine: Engine, session: list[Request]) -> list[Recorded]:
    recorded = []
    for index, request in enumerate(session):
        response = engine.handle(request)
        headers = (*response.headers, ("date", format_datetime(DAY + timedelta(seconds=index), usegmt=True)))
        recorded.append(
            Recorded(DAY + timedelta(seconds=index), request, response.status, headers, response.body)
        )
    return recorded


def write_jsonl(path: Path, recorded: list[Recorded]) -> None:
    labels = CallerLabels()
    lines = [to_line(item, labels, base_url="http://127.0.0.1:8000") for item in recorded]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _har_headers(pairs: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"name": key, "value": value} for key, value in pairs]


def write_har(path: Path, recorded: list[Recorded]) -> None:
    entries = []
    for index, item in enumerate(recorded):
        request = item.request
        content: dict[str, object] = {"size": len(item.body), "mimeType": "application/json"}
        if index % 3 == 1:
            content |= {"text": base64.b64encode(item.body).decode(), "encoding": "base64"}
        else:
            content["text"] = item.body.decode()
        entry: dict[str, object] = {
            "startedDateTime": (item.time or DAY).isoformat().replace("+00:00", "Z"),
            "time": 1.5,
            "request": {
                "method": request.method,
                "url": ROOT + request.target,
                "httpVersion": "HTTP/1.1",
                "headers": _har_headers(request.headers),
                "queryString": [],
                "cookies": [],
                "headersSize": -1,
                "bodySize": len(request.body),
                **(
                    {"postData": {"mimeType": "application/json", "text": request.body.decode()}}
                    if request.body
                    else {}
                ),
            },
            "response": {
                "status": item.status,
                "statusText": "",
                "httpVersion": "HTTP/1.1",
                "headers": _har_headers(item.headers),
                "cookies": [],
                "content": content,
                "redirectURL": "",
                "headersSize": -1,
                "bodySize": len(item.body),
            },
            "cache": {},
            "timings": {"send": 0, "wait": 1, "receive": 0},
        }
        entries.append(entry)
    entries.insert(2, _outside_entry())
    har = {
        "log": {
            "version": "1.2",
            "creator": {"name": "qmcontract fixtures", "version": "1"},
            "entries": entries,
        }
    }
    path.write_text(json.dumps(har, indent=1) + "\n", encoding="utf-8")


def _outside_entry() -> dict[str, object]:
    return {
        "startedDateTime": DAY.isoformat().replace("+00:00", "Z"),
        "time": 1,
        "request": {
            "method": "GET",
            "url": "https://cdn.example.test/app.js",
            "httpVersion": "HTTP/1.1",
            "headers": [],
        },
        "response": {
            "status": 200,
            "httpVersion": "HTTP/1.1",
            "headers": [],
            "content": {"size": 2, "text": "{}"},
        },
    }


def _yaml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def write_cassette(path: Path, recorded: list[Recorded]) -> None:
    """A VCR.py cassette: the first request's headers anchored and reused by alias, one body gzipped."""
    lines = ["interactions:"]
    for index, item in enumerate(recorded):
        request = item.request
        lines.append("- request:")
        lines.append(f"    body: {_yaml_string(request.body.decode()) if request.body else 'null'}")
        if index == 0:
            lines.append("    headers: &client_headers")
            lines.append("      Accept: [application/json]")
            lines.append("      User-Agent: [python-httpx/0.28.1]")
        elif request.headers:
            lines.append("    headers:")
            lines.extend(f"      {key}: [{_yaml_string(value)}]" for key, value in request.headers)
        else:
            lines.append("    headers: *client_headers")
        lines.append(f"    method: {request.method}")
        lines.append(f"    uri: {_yaml_string(ROOT + request.target)}")
        lines.append("  response:")
        gzipped = index == 3
        if gzipped:
            encoded = base64.encodebytes(gzip.compress(item.body, mtime=0)).decode()
            lines.append("    body:")
            lines.append("      string: !!binary |")
            lines.extend(f"        {chunk}" for chunk in encoded.split())
        else:
            lines.append(f"    body: {{string: {_yaml_string(item.body.decode())}}}")
        lines.append("    headers:")
        for key, value in item.headers:
            lines.append(f"      {key}: [{_yaml_string(value)}]")
        if gzipped:
            lines.append("      content-encoding: [gzip]")
        lines.append(f"    status: {{code: {item.status}, message: OK}}")
    lines.append("version: 1")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    catalog = load_catalog()
    names = catalog.names()
    first = catalog.get(names[1])
    assert first is not None
    llms = [entry["name"] for entry in first["models"]]
    session = requests(names, llms)
    good = exchanges(Engine(catalog, clock=lambda: DAY), session)
    write_jsonl(HERE / "good.jsonl", good)
    write_har(HERE / "good.har", good)
    write_cassette(HERE / "good.yaml", good)
    for name, writer, suffix in (
        ("unknown-field", write_har, "har"),
        ("json-as-text", write_cassette, "yaml"),
        ("offset-misread", write_jsonl, "jsonl"),
    ):
        broken = mutation(name)
        engine = Engine(catalog, clock=lambda: DAY, hook=broken.hook(catalog))
        writer(HERE / f"broken-{broken.rule}.{suffix}", exchanges(engine, session))
    (HERE / "malformed-not-json.har").write_text('{"log": {"entries": [\n', encoding="utf-8")
    har = json.loads((HERE / "good.har").read_text(encoding="utf-8"))
    har["log"]["entries"][1]["response"]["status"] = "200"
    (HERE / "malformed-structure.har").write_text(json.dumps(har), encoding="utf-8")
    (HERE / "malformed-bomb.yaml").write_text(BOMB, encoding="utf-8")
    lines = (HERE / "good.jsonl").read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace('"version":1', '"version":7')
    (HERE / "malformed-version.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
