"""Recorded traffic from files: HAR 1.2, VCR.py / pytest-recording cassettes, the proxy's JSON lines.

:func:`open_traffic` tells the format from the content, reads the file within the bounds of
:mod:`qmcontract.inputs` and yields each exchange as a :class:`~qmcontract.recording.Recorded`
relative to the API root, or None for a URL outside it. A file that cannot be read or does not
have the structure of its format raises :class:`~qmcontract.recording.RecordingError` naming the
file and the place (``log.entries[3].response.status: expected an integer``).

- **HAR** (browser dev tools, mitmproxy, Playwright): ``log.entries[].request/response``; the
  time is ``startedDateTime``; bodies are ``postData.text`` and ``content.text``, base64 when
  ``encoding`` says so. HAR bodies are stored decoded, so ``content-encoding`` is dropped; a
  response whose body was not captured (no ``content.text``) is counted, not judged.
- **Cassettes** (YAML or JSON): ``interactions[].request/response`` (VCR.py), or
  ``http_interactions[]`` (Ruby VCR); YAML aliases are allowed with their expansion capped at
  :data:`~qmcontract.limits.MAX_ALIAS_EXPANSION` times the nodes written, and ``!!binary`` bodies
  are read as bytes. Cassettes hold no time of their own: the response's ``Date`` header (or
  ``recorded_at``) is used when present.
- **JSON lines** written by ``qmcontract proxy --record`` (:mod:`qmcontract.recording`), streamed.

The API root is ``base_url`` when given; otherwise it is guessed from the first URL whose path
holds ``/query_models`` or ``/query_llms`` or ends with ``/metadata`` (everything before that
segment is the root).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from qmcontract.errors import InputError
from qmcontract.inputs import Base64Text, parse_json, parse_json_or_yaml, read_text
from qmcontract.limits import MAX_RECORDING_LINE_BYTES
from qmcontract.recording import Recorded, RecordingError, open_regular, parse_time, read_recording
from qmcontract.wire import Request, is_method

Format = Literal["har", "cassette", "jsonl"]
Entry = tuple[str, Recorded | None]
#: The API routes' first segments, which tell where the API root ends in a URL.
_API_PATH: Final = re.compile(r"^(?P<root>.*?)/(?:query_models|query_llms)(?:/|$)|^(?P<meta>.*)/metadata$")
#: Headers of a HAR body that no longer describe it (HAR stores bodies decoded).
_HAR_DROPPED: Final = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class _Root:
    """The API root of one file: given, or guessed from the first API URL seen."""

    def __init__(self, base_url: str | None) -> None:
        self.url = base_url.rstrip("/") if base_url else None
        self._parts = urlsplit(self.url) if self.url else None

    def relative(self, url: str) -> tuple[str, str] | None:
        """(path, raw query) relative to the root, or None when the URL is outside it."""
        parts = urlsplit(url)
        if self._parts is None:
            match = _API_PATH.match(parts.path)
            if match is None or not parts.scheme or not parts.netloc:
                return None
            root = match["root"] if match["root"] is not None else match["meta"]
            self.url = f"{parts.scheme}://{parts.netloc}{root}"
            self._parts = urlsplit(self.url)
        same_origin = (parts.scheme.lower(), parts.netloc.lower()) == (
            self._parts.scheme.lower(),
            self._parts.netloc.lower(),
        )
        prefix = self._parts.path.rstrip("/")
        if not same_origin or not (parts.path == prefix or parts.path.startswith(prefix + "/")):
            return None
        return parts.path[len(prefix) :] or "/", parts.query


@dataclass
class TrafficFile:
    """One file of recorded traffic: its format, its API root, and its exchanges (read on demand)."""

    path: Path
    format: Format
    base_url: str | None
    _document: Any = None

    def entries(self) -> Iterator[Entry]:
        """(where, exchange or None for a URL outside the API root), in file order.

        Raises RecordingError at the first malformed entry; ``base_url`` is known once a first
        API URL has been read.
        """
        if self.format == "jsonl":
            for number, recorded in enumerate(read_recording(self.path), start=1):
                yield f"{self.path.name} #{number}", recorded
            return
        root = _Root(self.base_url)
        read = _har_entries if self.format == "har" else _cassette_entries
        for where, entry in read(self._document, root, self.path):
            yield where, entry
            self.base_url = root.url


def open_traffic(path: Path, *, base_url: str | None = None) -> TrafficFile:
    """Read a traffic file far enough to know its format (HAR and cassettes: parsed whole)."""
    if _looks_like_jsonl(path):
        return TrafficFile(path, "jsonl", base_url or _recorded_base_url(path))
    try:
        text = read_text(path)
    except InputError as exc:
        raise RecordingError(str(exc)) from None
    if not text.strip():
        raise RecordingError(f"{path}: empty, expected a HAR file, a cassette or JSON lines")
    try:
        document = parse_json_or_yaml(text, source=path, aliases=True, binary=True)
    except InputError as exc:
        raise RecordingError(str(exc)) from None
    if isinstance(document, dict) and "log" in document:
        return TrafficFile(path, "har", base_url, document)
    if isinstance(document, dict) and ("interactions" in document or "http_interactions" in document):
        return TrafficFile(path, "cassette", base_url, document)
    raise RecordingError(
        f"{path}: neither a HAR file (no `log`), a cassette (no `interactions`) nor qmcontract JSON lines"
    )


def _looks_like_jsonl(path: Path) -> bool:
    """True when the first line is a recording line of its own (a JSON object with a version)."""
    with open_regular(path) as stream:
        first = stream.readline(MAX_RECORDING_LINE_BYTES + 1)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return True
    if not first.strip().startswith(b"{"):
        return False
    try:
        value = parse_json(first.decode("utf-8-sig"), source=path)
    except (InputError, UnicodeDecodeError):
        return False
    return isinstance(value, dict) and "version" in value and "request" in value


def _recorded_base_url(path: Path) -> str | None:
    with open_regular(path) as stream:
        first = stream.readline(MAX_RECORDING_LINE_BYTES + 1)
    try:
        value = parse_json(first.decode("utf-8-sig"), source=path)
    except (InputError, UnicodeDecodeError):
        return None
    url = value.get("base_url") if isinstance(value, dict) else None
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else None


# --- structure, with every error naming the place ---------------------------------------------------


class _At:
    """A JSON value at a place in a file: typed reads whose errors name the file and the place."""

    def __init__(self, value: Any, path: Path, where: str) -> None:
        self.value, self.path, self.where = value, path, where

    def fail(self, what: str, key: str | None = None) -> RecordingError:
        place = f"{self.where}.{key}" if key is not None else self.where
        return RecordingError(f"{self.path}: {place}: {what}")

    def at(self, key: str, kind: type[Any], *, required: bool = True) -> Any:
        if not isinstance(self.value, dict):
            raise self.fail("expected an object")
        if key not in self.value or self.value[key] is None:
            if required:
                raise self.fail("missing", key)
            return None
        value = self.value[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = {dict: "an object", list: "a list", str: "a string", int: "an integer"}
            raise self.fail(f"expected {names.get(kind, kind.__name__)}", key)
        return value

    def child(self, key: str, kind: type[Any] = dict, *, required: bool = True) -> _At:
        return _At(self.at(key, kind, required=required), self.path, f"{self.where}.{key}")


def _method(node: _At) -> str:
    method: str = node.at("method", str)
    if not is_method(method):
        raise node.fail("not an HTTP method", "method")
    return method.upper()


def _status(node: _At, code: Any) -> int:
    if not isinstance(code, int) or isinstance(code, bool) or not (code == 0 or 100 <= code <= 599):
        raise node.fail(f"expected an HTTP status, got {str(code)[:40]!r}", "status")
    return code


# --- HAR ----------------------------------------------------------------------------------------------


def _har_entries(document: Any, root: _Root, path: Path) -> Iterator[Entry]:
    log = _At(document, path, "(root)").child("log")
    entries = log.at("entries", list)
    for index, raw in enumerate(entries):
        where = f"log.entries[{index}]"
        entry = _At(raw, path, where)
        request, response = entry.child("request"), entry.child("response")
        method, url = _method(request), request.at("url", str)
        status = _status(response, response.at("status", int))
        headers = _har_headers(request), _har_headers(response)
        body, kept = _har_content(response, method, status)
        located = root.relative(url)
        if located is None:
            yield f"{path.name} #{index + 1}", None
            continue
        time = parse_time(entry.at("startedDateTime", str, required=False))
        yielded = Recorded(
            time,
            Request(method, located[0], located[1], headers[0], _har_post(request)),
            status,
            tuple(pair for pair in headers[1] if pair[0] not in _HAR_DROPPED),
            body,
            kept and status != 0,
        )
        yield f"{path.name} #{index + 1}", yielded


def _har_headers(node: _At) -> tuple[tuple[str, str], ...]:
    pairs = []
    for index, item in enumerate(node.at("headers", list, required=False) or []):
        header = _At(item, node.path, f"{node.where}.headers[{index}]")
        name, value = header.at("name", str), header.at("value", str)
        if not name.startswith(":"):
            pairs.append((name.lower(), value))
    return tuple(pairs)


def _har_post(request: _At) -> bytes:
    post = request.child("postData", required=False)
    if post.value is None:
        return b""
    return _decode_text(
        post, post.at("text", str, required=False) or "", post.at("encoding", str, required=False)
    )


def _har_content(response: _At, method: str, status: int) -> tuple[bytes, bool]:
    content = response.child("content", required=False)
    text = content.at("text", str, required=False) if content.value is not None else None
    if text is None:
        empty = method == "HEAD" or status in (204, 304) or (content.value or {}).get("size") == 0
        return b"", empty
    encoding = content.at("encoding", str, required=False)
    return _decode_text(content, text, encoding), True


def _decode_text(node: _At, text: str, encoding: str | None) -> bytes:
    if encoding is None or encoding.lower() in ("", "utf-8", "utf8"):
        return text.encode("utf-8", "surrogatepass")
    if encoding.lower() != "base64":
        raise node.fail(f"unknown body encoding {encoding[:40]!r}", "encoding")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise node.fail("not base64", "text") from None


# --- cassettes ------------------------------------------------------------------------------------------


def _cassette_entries(document: Any, root: _Root, path: Path) -> Iterator[Entry]:
    top = _At(document, path, "(root)")
    key = "interactions" if "interactions" in document else "http_interactions"
    for index, raw in enumerate(top.at(key, list)):
        interaction = _At(raw, path, f"{key}[{index}]")
        request, response = interaction.child("request"), interaction.child("response")
        method, url = _method(request), request.at("uri", str)
        status_node = response.value.get("status")
        code = status_node.get("code") if isinstance(status_node, dict) else status_node
        status = _status(response, code)
        request_headers, response_headers = _cassette_headers(request), _cassette_headers(response)
        located = root.relative(url)
        if located is None:
            yield f"{path.name} #{index + 1}", None
            continue
        time = _header_time(response_headers) or _recorded_at(interaction)
        yield (
            f"{path.name} #{index + 1}",
            Recorded(
                time,
                Request(method, located[0], located[1], request_headers, _cassette_body(request)),
                status,
                response_headers,
                _cassette_body(response),
            ),
        )


def _cassette_headers(node: _At) -> tuple[tuple[str, str], ...]:
    headers = node.at("headers", dict, required=False) or {}
    pairs = []
    for name, values in headers.items():
        for value in values if isinstance(values, list) else [values]:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise node.fail(f"header {str(name)[:40]!r}: expected strings", "headers")
            pairs.append((str(name).lower(), str(value)))
    return tuple(pairs)


def _cassette_body(node: _At) -> bytes:
    body = node.value.get("body")
    if isinstance(body, dict):
        inner = body.get("string", body.get("base64_string"))
        if "base64_string" in body and isinstance(inner, str):
            inner = Base64Text(inner)
        body = inner
    if body is None:
        return b""
    if isinstance(body, Base64Text):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise node.fail("not base64", "body") from None
    if not isinstance(body, str):
        raise node.fail("expected a string or {string: ...}", "body")
    return body.encode("utf-8", "surrogatepass")


def _header_time(headers: tuple[tuple[str, str], ...]) -> datetime | None:
    value = next((value for key, value in headers if key == "date"), None)
    if value is None:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _recorded_at(interaction: _At) -> datetime | None:
    value = interaction.value.get("recorded_at")
    if not isinstance(value, str):
        return None
    moment = parse_time(value)
    if moment is not None:
        return moment
    try:
        found = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=timezone.utc)


__all__ = ["Entry", "Format", "TrafficFile", "open_traffic"]
