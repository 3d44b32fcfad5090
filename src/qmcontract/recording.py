"""Recorded traffic: the proxy's JSON-lines format, one exchange per line, with secrets redacted.

Each line is one JSON object (``version`` is :data:`VERSION`; a reader refuses any other)::

    {"version": 1, "time": "2025-10-03T12:00:00.123456Z", "base_url": "http://127.0.0.1:8000",
     "request": {"method": "GET", "path": "/query_models/2FgLFqAf8M6MTa6MtGLLwM",
                 "query": "metadata=true&me=true",
                 "headers": [["authorization", "<redacted>"], ["accept", "application/json"]],
                 "body": "", "body_base64": false, "caller": "9c1f0e5d4b3a2716"},
     "response": {"status": 200, "headers": [["content-type", "application/json"]],
                  "body": "{...}", "body_base64": false, "body_kept": true}}

- ``time``: when the request arrived, RFC 3339 in UTC; ``base_url`` (optional): the API root
  the exchange went to (the proxy's upstream), for reproductions;
- ``path``: percent-encoded as sent, relative to the API root; ``query``: the raw query string,
  the value of every secret parameter (:func:`qmcontract.redact.redact_query`) redacted;
- ``headers``: ``[name, value]`` pairs in order, names lower-case, secret values redacted
  (:func:`qmcontract.redact.redact_headers`), hop-by-hop headers left out;
- ``body``: the text when it is UTF-8, else base64 with ``body_base64: true``;
- ``caller``: present when the request carried an ``authorization``: a label of the token that
  is the same for the same token within one recording and says nothing about it (a keyed hash
  with a key made for the recording and then forgotten), so that ``me=true`` answers of
  different callers are never compared as if they were one caller's;
- ``body_kept: false``: the response body was larger than the proxy keeps
  (:data:`~qmcontract.limits.MAX_JUDGED_BODY_BYTES`) and is not recorded.

Reading is streamed and bounded: each line at most :data:`~qmcontract.limits.MAX_RECORDING_LINE_BYTES`
bytes, read as the strict JSON of :func:`qmcontract.inputs.parse_json`; anything else is a
:class:`RecordingError` naming the file and the line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any, Final

from qmcontract import inputs
from qmcontract.errors import InputError
from qmcontract.inputs import parse_json
from qmcontract.limits import MAX_JUDGED_BODY_BYTES, MAX_RECORDING_LINE_BYTES
from qmcontract.redact import redact_headers, redact_query
from qmcontract.wire import Headers, Request, is_method

VERSION: Final = 1
_TIME: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))"
)


class RecordingError(InputError):
    """A recording cannot be read: not a file, too long a line, or a line that is not an exchange."""


@dataclass(frozen=True)
class Recorded:
    """One exchange of recorded traffic, relative to the API root.

    ``time`` is None when the source did not say when it happened (the stateful rules then
    leave it out). ``body_kept`` is False when the response body was not recorded. ``caller``
    labels the token when the token itself is redacted.
    """

    time: datetime | None
    request: Request
    status: int
    headers: Headers
    body: bytes
    body_kept: bool = True
    caller: str | None = None


# --- times -------------------------------------------------------------------------------------------


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds: ``2025-10-03T12:00:00.123456Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: object) -> datetime | None:
    """An RFC 3339 (or ISO 8601 with an offset) date-time as an aware datetime; None if it is not one."""
    if not isinstance(text, str):
        return None
    match = _TIME.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction = (match[7] or "0")[:6].ljust(6, "0")
    try:
        moment = datetime(year, month, day, hour, minute, min(second, 59), int(fraction), timezone.utc)
    except ValueError:
        return None
    if match[8] is None:
        offset = timedelta(hours=int(match[10]), minutes=int(match[11]))
        moment -= offset if match[9] == "+" else -offset
    return moment


# --- writing ------------------------------------------------------------------------------------------


def _body_fields(body: bytes) -> dict[str, Any]:
    try:
        return {"body": body.decode("utf-8"), "body_base64": False}
    except UnicodeDecodeError:
        return {"body": base64.b64encode(body).decode("ascii"), "body_base64": True}


class CallerLabels:
    """Labels tokens without revealing them: a keyed hash whose key lives only in this object."""

    def __init__(self) -> None:
        self._key = os.urandom(32)

    def __call__(self, token: str | None) -> str | None:
        """The label of a token (None for no token)."""
        if token is None:
            return None
        return hashlib.blake2b(
            token.encode("utf-8", "surrogatepass"), key=self._key, digest_size=8
        ).hexdigest()


def to_line(recorded: Recorded, labels: CallerLabels, *, base_url: str | None = None) -> str:
    """One exchange as a recording line (no newline), secrets redacted; ``base_url``: the API root."""
    request = recorded.request
    caller = recorded.caller or labels(request.authorization)
    line: dict[str, Any] = {
        "version": VERSION,
        "time": format_time(recorded.time or datetime.now(timezone.utc)),
        **({"base_url": base_url} if base_url is not None else {}),
        "request": {
            "method": request.method,
            "path": request.path,
            "query": redact_query(request.query),
            "headers": [list(pair) for pair in redact_headers(request.headers)],
            **_body_fields(request.body),
            **({"caller": caller} if caller is not None else {}),
        },
        "response": {
            "status": recorded.status,
            "headers": [list(pair) for pair in redact_headers(recorded.headers)],
            **_body_fields(recorded.body if recorded.body_kept else b""),
            "body_kept": recorded.body_kept,
        },
    }
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


class RecordingWriter:
    """Appends exchanges to a JSON-lines file (created or emptied on open)."""

    def __init__(self, path: Path, *, base_url: str | None = None) -> None:
        self.path = path
        self.base_url = base_url
        self._labels = CallerLabels()
        self._stream: IO[str] = path.open("w", encoding="utf-8", newline="\n")
        self.written = 0

    def write(self, recorded: Recorded) -> None:
        """Write one exchange (buffered: :meth:`flush` pushes it to the file)."""
        self._stream.write(to_line(recorded, self._labels, base_url=self.base_url) + "\n")
        self.written += 1

    def flush(self) -> None:
        """Push buffered lines to the file."""
        self._stream.flush()

    def close(self) -> None:
        """Flush and close."""
        if not self._stream.closed:
            self._stream.close()


# --- reading ------------------------------------------------------------------------------------------


def open_regular(path: Path) -> IO[bytes]:
    """A regular file opened for reading, or a RecordingError (missing, a directory, a FIFO)."""
    try:
        return inputs.open_regular(path, expected="a recording")
    except InputError as exc:
        raise RecordingError(str(exc)) from None


def read_recording(path: Path) -> Iterator[Recorded]:
    """Every exchange of a JSON-lines recording, streamed; blank lines are skipped."""
    with open_regular(path) as stream:
        number = 0
        while True:
            raw = stream.readline(MAX_RECORDING_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            where = f"{path}: line {number}"
            if len(raw) > MAX_RECORDING_LINE_BYTES:
                raise RecordingError(f"{where}: longer than {MAX_RECORDING_LINE_BYTES:,} bytes")
            if raw.strip():
                yield from_line(_text(raw, where), where)


def _text(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8-sig" if where.endswith(": line 1") else "utf-8")
    except UnicodeDecodeError as exc:
        raise RecordingError(f"{where}: not UTF-8 ({exc.reason} at byte {exc.start})") from None


def from_line(text: str, where: str) -> Recorded:
    """One recording line as an exchange; RecordingError naming ``where`` and the field if malformed."""
    try:
        value = parse_json(text, source=where)
    except InputError as exc:
        raise RecordingError(str(exc)) from None
    line = _Fields(value, where)
    version = line.get("version", int)
    if version != VERSION:
        raise RecordingError(f"{where}: version {version} is not {VERSION}, the only one this reader knows")
    time = parse_time(line.get("time", str))
    if time is None:
        raise RecordingError(f"{where}: time: not an RFC 3339 date-time")
    request, response = line.child("request"), line.child("response")
    method = request.get("method", str)
    if not is_method(method):
        raise RecordingError(f"{where}: request.method: not an HTTP method")
    path = request.get("path", str)
    if not path.startswith("/"):
        raise RecordingError(f"{where}: request.path: must start with /")
    status = response.get("status", int)
    if not 100 <= status <= 599:
        raise RecordingError(f"{where}: response.status: {status} is not an HTTP status")
    caller = request.optional("caller", str)
    return Recorded(
        time=time,
        request=Request(method, path, request.get("query", str), request.headers(), request.body()),
        status=status,
        headers=response.headers(),
        body=response.body(),
        body_kept=response.optional("body_kept", bool) is not False,
        caller=caller,
    )


class _Fields:
    """Typed access to one object of a recording line, each error naming the field."""

    def __init__(self, value: Any, where: str, name: str = "") -> None:
        if not isinstance(value, dict):
            raise RecordingError(f"{where}: {name or 'the line'}: expected a JSON object")
        self.value, self.where, self.name = value, where, name

    def _field(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def get(self, key: str, kind: type[Any]) -> Any:
        if key not in self.value:
            raise RecordingError(f"{self.where}: {self._field(key)}: missing")
        return self.optional(key, kind)

    def optional(self, key: str, kind: type[Any]) -> Any:
        value = self.value.get(key)
        wrong = value is not None and (
            not isinstance(value, kind) or (kind is int and isinstance(value, bool))
        )
        if wrong:
            raise RecordingError(f"{self.where}: {self._field(key)}: expected {kind.__name__}")
        return value

    def child(self, key: str) -> _Fields:
        return _Fields(self.get(key, dict), self.where, self._field(key))

    def headers(self) -> Headers:
        pairs = self.optional("headers", list) or []
        if not all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair)
            for pair in pairs
        ):
            raise RecordingError(f"{self.where}: {self._field('headers')}: expected [name, value] pairs")
        return tuple((name.lower(), value) for name, value in pairs)

    def body(self) -> bytes:
        text = self.optional("body", str) or ""
        if not self.optional("body_base64", bool):
            return text.encode("utf-8", "surrogatepass")
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise RecordingError(f"{self.where}: {self._field('body')}: not base64") from None


# --- judging what was recorded ---------------------------------------------------------------------

#: Content codings a body is decoded from before it is judged (others leave it unjudged).
DECODED_CODINGS: Final = ("gzip", "x-gzip", "deflate")


def decoded(recorded: Recorded, *, limit: int = MAX_JUDGED_BODY_BYTES) -> Recorded:
    """The exchange with its response body as the checks read it: ``content-encoding`` undone.

    A body in another coding, one that does not decode, or one that decodes to more than
    ``limit`` bytes (a compression bomb) is marked not kept, so it is counted, not judged.
    """
    codings = [
        part.strip().lower()
        for key, value in recorded.headers
        if key == "content-encoding"
        for part in value.split(",")
        if part.strip() and part.strip().lower() != "identity"
    ]
    if not codings or not recorded.body_kept:
        return recorded
    body: bytes | None = recorded.body
    for coding in reversed(codings):
        body = _decode(coding, body, limit) if body is not None else None
    if body is None:
        return replace(recorded, body=b"", body_kept=False)
    return replace(recorded, body=body)


def _decode(coding: str, body: bytes, limit: int) -> bytes | None:
    if coding not in DECODED_CODINGS:
        return None
    attempts = (16 + zlib.MAX_WBITS,) if coding != "deflate" else (zlib.MAX_WBITS, -zlib.MAX_WBITS)
    for wbits in attempts:
        try:
            decompressor = zlib.decompressobj(wbits)
            out = decompressor.decompress(body, limit + 1)
        except zlib.error:
            continue
        return out if len(out) <= limit and not decompressor.unconsumed_tail else None
    return None
