"""Replaying recorded traffic offline: recorded requests get their recorded answers, others the engine's.

A recording (the proxy's JSON lines, a HAR file or a VCR cassette, read by
:mod:`qmcontract.traffic_files`) is judged first, passively, by the same checks as
``qmcontract check-traffic``; one that breaks a rule is refused with the rules it breaks, so a test
suite never learns from broken traffic. The recorded Query Models (200 answers of
``GET /query_models/{name}``, their metadata left out) become the catalogue the engine answers
every other request from. The respx mock (``mock_query_models(recording=...)``) and the pytest
plugin (``--qm-recording FILE``) serve a :class:`Replay`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from qmcontract.catalog import Catalog
from qmcontract.errors import InvalidDefinition, QmContractError
from qmcontract.recording import Recorded, RecordingError, decoded
from qmcontract.rules import METADATA_FIELDS
from qmcontract.wire import Request, Response

#: Response headers a replay does not repeat: hop-by-hop, and those of a body already decoded.
if TYPE_CHECKING:
    from qmcontract.conformance.traffic import TrafficJudge

_NOT_REPEATED: Final = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "date", "server"}
)
_UNKNOWN_ROOT: Final = "http://recorded.invalid"


class ReplayError(QmContractError):
    """A recording cannot be replayed: unreadable, or it breaks a rule of the contract."""


def replay_key(request: Request) -> str:
    """What makes two requests the same for a replay: method, path, query, body, and whether a token came."""
    body = hashlib.blake2b(request.body, digest_size=16).hexdigest() if request.body else ""
    token = "+authorization" if request.authorization is not None else ""
    return f"{request.method} {request.target} {body} {token}"


@dataclass(frozen=True)
class Replay:
    """Recorded answers by request, and the catalogue of the recorded Query Models."""

    source: str
    answers: dict[str, Response]
    catalog: Catalog

    def answer(self, request: Request) -> Response | None:
        """The recorded answer to this request (the first one recorded), or None."""
        return self.answers.get(replay_key(request))


def load_replay(path: str | os.PathLike[str], *, base_url: str | None = None) -> Replay:
    """Read, judge and index a recording; ReplayError names the file and the rules it breaks."""
    from qmcontract.conformance.traffic import TrafficJudge  # noqa: PLC0415 (the checks load only here)
    from qmcontract.traffic_files import open_traffic  # noqa: PLC0415

    source = Path(path)
    judge = TrafficJudge(base_url or _UNKNOWN_ROOT)
    answers: dict[str, Response] = {}
    documents: dict[str, dict[str, Any]] = {}
    try:
        traffic = open_traffic(source, base_url=base_url)
        for where, recorded in traffic.entries():
            if recorded is not None:
                exchange = decoded(recorded)
                _index(exchange, answers, documents)
                judge(exchange, where)
    except RecordingError as exc:
        raise ReplayError(str(exc)) from None
    _refuse_if_broken(source, judge)
    return Replay(str(source), answers, _catalog_of(source, documents))


def _index(recorded: Recorded, answers: dict[str, Response], documents: dict[str, dict[str, Any]]) -> None:
    headers = tuple((key, value) for key, value in recorded.headers if key not in _NOT_REPEATED)
    answers.setdefault(replay_key(recorded.request), Response(recorded.status, headers, recorded.body))
    request = recorded.request
    if recorded.status == 200 and request.method == "GET" and request.path.startswith("/query_models/"):
        document = _json(recorded.body)
        if isinstance(document, dict) and isinstance(document.get("name"), str):
            plain = {key: value for key, value in document.items() if key not in METADATA_FIELDS}
            documents.setdefault(document["name"], plain)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _refuse_if_broken(source: Path, judge: TrafficJudge) -> None:
    report = judge.report(title="qmcontract replay", target=str(source), seconds=0.0, settings={})
    broken = report.rules_with("failed")
    if broken:
        first = next(failure for failure in report.failures if failure.rule == broken[0])
        detail = first.violations[0].message if first.violations else ""
        raise ReplayError(
            f"{source}: the recording breaks {', '.join(broken)} "
            f"(first: {first.rule} on {first.request}: {detail}); run qmcontract check-traffic {source}"
        )


def _catalog_of(source: Path, documents: dict[str, dict[str, Any]]) -> Catalog:
    catalog = Catalog()
    for name, document in documents.items():
        try:
            catalog.add(document)
        except InvalidDefinition as exc:  # already judged above; kept as a guard against a partial body
            raise ReplayError(f"{source}: the recorded {name} is not a valid Query Model: {exc}") from None
    return catalog
