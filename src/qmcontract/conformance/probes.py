"""Targeted probes: deterministic requests that make every rule apply on every run.

Random cases rarely hit a known slug with a valid window, or ``me=true`` with a token.
The probes do, for each known slug: documents with and without metadata, ``me`` with and
without a token, valid and broken ``from``/``to``, ignored parameters, windows of several
widths, unknown and malformed slugs, and inputs meant to trip a server up. Each probe
names the rules it is there to exercise; every check still runs on every probe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

import httpx

from qmcontract.conformance.checks import ConformanceContext, Evaluation, evaluate
from qmcontract.conformance.exchange import ApiRequest, Exchange
from qmcontract.conformance.ledger import Failure, Ledger
from qmcontract.errors import Violation
from qmcontract.names import hash_name
from qmcontract.rules import DOCUMENT_RULES

Params = tuple[tuple[str, str], ...]
TRUE: Final = ("metadata", "true")
#: Windows of several widths, nested and open-ended, over the API's first months.
WINDOWS: Final[tuple[Params, ...]] = (
    (("from", "2025-10-01T00:00:00Z"), ("to", "2025-10-08T00:00:00Z")),
    (("from", "2025-10-01T00:00:00Z"), ("to", "2025-11-01T00:00:00Z")),
    (("from", "2025-09-01T00:00:00Z"), ("to", "2026-01-01T00:00:00Z")),
    (("from", "2025-10-10T00:00:00.5Z"), ("to", "2025-10-10T23:59:59Z")),
    (("from", "2025-10-15T12:00:00+02:00"),),
    (("to", "2025-10-20T00:00:00Z"),),
)
IGNORED: Final[tuple[Params, ...]] = (
    (("me", "true"),),
    (("metadata", "false"), ("me", "maybe")),
    (("metadata", "false"), ("from", "not-a-date"), ("to", "2025-13-45")),
    (("from", "2025-11-01T00:00:00Z"), ("to", "2025-10-01T00:00:00Z")),
    (("metadata", "false"), ("me", "true"), ("from", "2025-10-01T00:00:00Z")),
    (("me", ""), ("from", ""), ("to", "")),
)
MALFORMED: Final[tuple[Params, ...]] = (
    (("metadata", "yes"),),
    (("metadata", "1"),),
    (("metadata", "null"),),
    (TRUE, ("me", "maybe")),
    (TRUE, ("me", "1")),
    (TRUE, ("from", "yesterday")),
    (TRUE, ("to", "2025-10-01")),
    (TRUE, ("from", "2025-10-01T00:00:00")),
    (TRUE, ("from", "2025-02-30T00:00:00Z")),
    (TRUE, ("to", "2025-10-01T25:00:00Z")),
    (TRUE, ("from", "2025-11-01T00:00:00Z"), ("to", "2025-10-01T00:00:00Z")),
    (TRUE, ("me", "true"), ("from", "not-a-date")),
)
ODD_PARAMS: Final[tuple[Params, ...]] = (
    (TRUE, ("from", "9" * 300)),
    (TRUE, ("from", "99999-01-01T00:00:00Z")),
    (TRUE, ("from", "0001-01-01T00:00:00Z"), ("to", "9999-12-31T23:59:59Z")),
    (TRUE, ("from", "2025-10-01T00:00:00.123456789Z")),
    (TRUE, ("from", "2025-10-01T00:00:00Z\x00")),
    (TRUE, TRUE),
    (("foo", "bar"), ("metadata", "false")),
)
#: How many known slugs the per-slug families beyond ``documents`` use.
SLUGS_PER_FAMILY: Final = 4
WINDOW_SLUGS: Final = 8
FAMILY_RULES: Final[dict[str, tuple[str, ...]]] = {
    "documents": ("slug-echo", "stable", "content-type", *DOCUMENT_RULES),
    "ignored-params": ("ignored-params",),
    "auth": ("auth-required", "metadata-window"),
    "bad-request": ("bad-request", "error-body"),
    "not-found": ("not-found", "error-body"),
    "windows": ("metadata-window", "stable"),
    "robustness": ("no-server-error", "error-body", "content-type"),
}
FAMILIES: Final = tuple(FAMILY_RULES)


@dataclass(frozen=True)
class Probe:
    """One deterministic request, the family it belongs to and the rules it exercises."""

    family: str
    request: ApiRequest
    rules: tuple[str, ...]


def unknown_names(known: Sequence[str], count: int = 2) -> list[str]:
    """Well-formed names that are not among ``known``."""
    names: list[str] = []
    seed = 0
    while len(names) < count:
        candidate = hash_name(f"qmcontract conformance: unknown {seed}")
        seed += 1
        if candidate not in known:
            names.append(candidate)
    return names


def malformed_slugs(known: Sequence[str]) -> list[str]:
    """Slugs that are not names at all, so unknown whatever the catalogue."""
    first = known[0]
    return [
        "abc",
        first + "x",
        first[:-1],
        "not_a-name-00000000000",
        "ñ" * 22,
        "two words are not a name",
        "a" * 2000,
        "\x00" * 22,
    ]


def build_probes(slugs: Sequence[str], token: str | None) -> dict[str, list[Probe]]:
    """The probes of every family for these known slugs (and the token, when there is one)."""
    if not slugs:
        raise ValueError("the probes need at least one known slug")
    builders: dict[str, Callable[[Sequence[str], str | None], Iterator[ApiRequest]]] = {
        "documents": _documents,
        "ignored-params": _ignored,
        "auth": _auth,
        "bad-request": _bad_request,
        "not-found": _not_found,
        "windows": _windows,
        "robustness": _robustness,
    }
    return {
        family: [Probe(family, request, FAMILY_RULES[family]) for request in build(slugs, token)]
        for family, build in builders.items()
    }


def _documents(slugs: Sequence[str], token: str | None) -> Iterator[ApiRequest]:
    for slug in slugs:
        yield ApiRequest.retrieve(slug)
        yield ApiRequest.retrieve(slug, [("metadata", "false")])
        yield ApiRequest.retrieve(slug, [TRUE])
        yield ApiRequest.retrieve(slug, [("metadata", "")])
    if token is not None:
        yield ApiRequest.retrieve(slugs[0], authorization=token)


def _ignored(slugs: Sequence[str], _token: str | None) -> Iterator[ApiRequest]:
    for slug in [*slugs[:SLUGS_PER_FAMILY], *unknown_names(slugs, 1)]:
        for params in IGNORED:
            yield ApiRequest.retrieve(slug, params)


def _auth(slugs: Sequence[str], token: str | None) -> Iterator[ApiRequest]:
    for slug in [*slugs[:SLUGS_PER_FAMILY], *unknown_names(slugs, 1)]:
        yield ApiRequest.retrieve(slug, [TRUE, ("me", "true")])
        yield ApiRequest.retrieve(slug, [TRUE, ("me", "false")])
        yield ApiRequest.retrieve(slug, [TRUE, ("me", "")])
        if token is not None:
            yield ApiRequest.retrieve(slug, [TRUE, ("me", "true")], authorization=token)


def _bad_request(slugs: Sequence[str], _token: str | None) -> Iterator[ApiRequest]:
    for slug in [*slugs[:2], *unknown_names(slugs, 1)]:
        for params in MALFORMED:
            yield ApiRequest.retrieve(slug, params)


def _not_found(slugs: Sequence[str], _token: str | None) -> Iterator[ApiRequest]:
    for slug in [*unknown_names(slugs), *malformed_slugs(slugs)]:
        yield ApiRequest.retrieve(slug)
    for slug in unknown_names(slugs):
        yield ApiRequest.retrieve(slug, [TRUE])
        yield ApiRequest.retrieve(slug, [TRUE, ("from", "2025-10-01T00:00:00Z")])


def _windows(slugs: Sequence[str], token: str | None) -> Iterator[ApiRequest]:
    for slug in slugs[:WINDOW_SLUGS]:
        for window in WINDOWS:
            yield ApiRequest.retrieve(slug, [TRUE, *window])
            if token is not None:
                yield ApiRequest.retrieve(slug, [TRUE, ("me", "true"), *window], authorization=token)


def _robustness(slugs: Sequence[str], _token: str | None) -> Iterator[ApiRequest]:
    for slug in [slugs[0], *unknown_names(slugs, 1)]:
        for params in ODD_PARAMS:
            yield ApiRequest.retrieve(slug, params)


# --- sending and checking ---------------------------------------------------------------------


class HttpSender:
    """Sends :class:`ApiRequest` values to one base URL and counts them in a ledger."""

    def __init__(self, base_url: str, ledger: Ledger, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._ledger = ledger
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def __call__(self, request: ApiRequest) -> Exchange:
        """Send the request; raises :class:`httpx.HTTPError` when no response comes back."""
        headers = {} if request.authorization is None else {"authorization": request.authorization}
        self._ledger.count_request()
        response = self._client.request(request.method, request.url(self.base_url), headers=headers)
        return Exchange(request, response.status_code, response.headers.get("content-type"), response.content)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def check_exchange(
    exchange: Exchange, context: ConformanceContext, ledger: Ledger, *, base_url: str, source: str
) -> list[Failure]:
    """Evaluate every rule on one exchange and record the outcome; return the new failures."""
    evaluation: Evaluation = evaluate(exchange, context)
    request = exchange.request
    return ledger.record_all(
        evaluation.items(), key=request.key(), curl=request.curl(base_url), source=source
    )


def run_probe(probe: Probe, sender: HttpSender, context: ConformanceContext, ledger: Ledger) -> list[Failure]:
    """Send one probe and check the exchange; a request without a response is a server error."""
    request = probe.request
    source = f"probe {probe.family}"
    try:
        exchange = sender(request)
    except httpx.HTTPError as exc:
        violation = Violation("no-server-error", "", f"no response: {type(exc).__name__}: {exc}")
        return ledger.record(
            "no-server-error", request.key(), [violation], curl=request.curl(sender.base_url), source=source
        )
    return check_exchange(exchange, context, ledger, base_url=sender.base_url, source=source)


def run_probes(
    probes: Sequence[Probe],
    sender: HttpSender,
    context: ConformanceContext,
    ledger: Ledger,
    *,
    workers: int = 1,
) -> list[Failure]:
    """Run the probes, ``workers`` at a time; return every new failure, in probe order."""
    if workers <= 1:
        return [failure for probe in probes for failure in run_probe(probe, sender, context, ledger)]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qmcontract-probe") as pool:
        results = pool.map(lambda probe: run_probe(probe, sender, context, ledger), probes)
        return [failure for found in results for failure in found]
