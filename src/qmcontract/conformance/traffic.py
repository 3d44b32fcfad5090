"""Judging traffic that was not ours to send: the proxy's exchanges and recorded files.

Nothing may be sent again, so a :class:`TrafficJudge` runs the single-exchange checks of
:data:`~qmcontract.conformance.judge.ALL_CHECKS` with a context that cannot ask (rules that must
ask again, like ``llm-lookup`` or ``list-sort``, then do not apply and show as not exercised),
and adds the passive counterparts of the rules that compare exchanges, over the exchanges of
the stream that carry a time, within one UTC day:

- ``stable``: a ``GET`` seen again gives the same document, counters aside (Query Models and
  LLMs within the day; the list and the global totals, which depend on the whole catalogue,
  only within :data:`SHARED_STABLE_SECONDS` and until a non-read request outside the API, like
  the mock's control API, may have changed the catalogue);
- ``ignored-params``: a request with ignored ``me``/``from``/``to`` gets what the same request
  without them got;
- ``metadata-window``: of two answers about one name, the one for a window inside the other's
  never reports more (``unbounded`` and ``wider``), the same instants written another way give
  the same figures (``same-instant``), and ``me=true`` never reports more than all users for a
  window as wide or wider (``me-not-above``).

What the oracle knows comes from the traffic alone: a name answered 200 on its route is served
(and so are the LLMs of a served document without violations); no name is known absent except a
malformed one. A token is taken as accepted on an exchange unless the answer was 401, so a token
the server refused is never a violation. Memory is bounded: names, remembered answers and
windows are capped (:mod:`qmcontract.limits`), oldest first out.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from typing import Any, Final

from qmcontract.conformance.checks import Context, error_body, first_difference
from qmcontract.conformance.exchange import Exchange
from qmcontract.conformance.expect import Instant, Knowledge, has_ignored_params, instant, metadata_requested
from qmcontract.conformance.judge import ALL_CHECKS, Judge, describe, evaluate
from qmcontract.conformance.subchecks import SUBCHECKS, Facts, Outcome, broken, held, judged
from qmcontract.errors import Violation, shown_pointer
from qmcontract.limits import (
    TRAFFIC_KNOWN_NAMES,
    TRAFFIC_MEMORY_BYTES,
    TRAFFIC_MEMORY_KEYS,
    TRAFFIC_WINDOWS_PER_NAME,
)
from qmcontract.names import is_name
from qmcontract.recording import Recorded
from qmcontract.redact import cut, escape_for_log
from qmcontract.report.ledger import Ledger
from qmcontract.report.model import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Failure, Report
from qmcontract.routes import READ_METHODS, query_pairs, route_of
from qmcontract.rules import COUNTERS
from qmcontract.wire import Request

#: Seconds within which the list and the global totals must repeat themselves.
SHARED_STABLE_SECONDS: Final = 60.0
#: Documents whose validation is remembered (by a hash of the body).
VALIDATED_CACHE: Final = 1024
#: Internal errors kept for the report.
MAX_ERRORS: Final = 20
_TOLERANCE: Final = 1e-9
_STABLE_FACES: Final = {"model": "model", "llm": "llm", "model-list": "list", "metadata": "metadata"}
_IGNORED_FACES: Final = {"model": "model", "llm": "llm", "model-validate": "post", "llm-validate": "post"}
_WINDOW_PARAMETERS: Final = ("me", "from", "to")
#: The checks of an answer to HEAD, which has no body to judge.
HEAD_CHECKS: Final = tuple(check for check in ALL_CHECKS if check is not error_body)
#: What passive judging cannot do, said in every report.
PASSIVE_NOTE: Final = (
    "passive checking: nothing is sent to the server, so the sub-checks that must ask it again "
    "(list-names retrievable and count, list-sort, llm-lookup, validate-echo, metadata-global sums) "
    "do not run on traffic; stable, ignored-params and metadata-window compare the exchanges seen "
    "that carry a time, within one UTC day"
)


class TrafficReport(Report):
    """A report on traffic: exit 1 when a rule failed, 2 when judging itself failed, else 0.

    Traffic exercises what its clients sent, so a sub-check that did not run is no reason to
    fail: the table says which did not.
    """

    @property
    def exit_code(self) -> int:
        """0 nothing broke; 1 a rule failed; 2 an exchange could not be judged (a bug)."""
        if self.rules_with("failed"):
            return EXIT_FAILED
        return EXIT_USAGE if self.errors else EXIT_OK


@dataclass(eq=False)
class PassiveContext(Context):
    """A context that never asks the server again, with a bounded cache of validated documents."""

    _recent: OrderedDict[bytes, tuple[Violation, ...]] = field(default_factory=OrderedDict, repr=False)

    def again(self, request: Any) -> Exchange | None:  # noqa: ARG002
        """Nothing is sent again."""
        return None

    def fetch(self, request: Any, *, read: int = 1) -> Exchange | None:  # noqa: ARG002
        """Nothing is read again."""
        return None

    def document_violations(self, exchange: Exchange) -> tuple[Violation, ...]:
        """As :meth:`Context.document_violations`, remembering the last :data:`VALIDATED_CACHE` bodies."""
        entry = exchange.kind in ("llm", "llm-validate")
        metadata = metadata_requested(exchange.request)
        key = hashlib.blake2b(
            bytes([entry, {None: 2, True: 1, False: 0}[metadata]]) + exchange.body, digest_size=16
        ).digest()
        found = self._recent.get(key)
        if found is None:
            found = super().document_violations(exchange)
            self._validated.clear()
            self._recent[key] = found
            if len(self._recent) > VALIDATED_CACHE:
                self._recent.popitem(last=False)
        else:
            self._recent.move_to_end(key)
        return found


@dataclass
class TrafficCounts:
    """What happened to the exchanges of a stream."""

    exchanges: int = 0
    judged: int = 0
    off_route: int = 0
    body_not_kept: int = 0
    without_time: int = 0
    outside_root: int = 0
    not_judged: int = 0

    def settings(self) -> dict[str, int]:
        """The counts as report settings."""
        return {
            "exchanges": self.exchanges,
            "judged": self.judged,
            "skipped: not on the API's routes": self.off_route,
            "skipped: other URLs": self.outside_root,
            "not judged: response body not kept": self.body_not_kept,
            "not judged: judge behind (proxy)": self.not_judged,
            "judged without a time (no stateful rules)": self.without_time,
        }


class _Names:
    """Names seen served, at most ``limit`` (later ones are not learned: the oracle is then silent)."""

    def __init__(self, limit: int = TRAFFIC_KNOWN_NAMES) -> None:
        self._names: set[str] = set()
        self._limit = limit

    def add(self, name: object) -> bool:
        """Learn a served name; True when it was not known before."""
        if not isinstance(name, str) or name in self._names or len(self._names) >= self._limit:
            return False
        if is_name(name):
            self._names.add(name)
            return True
        return False

    def known(self, name: str) -> bool | None:
        """True when seen served; otherwise the traffic cannot tell (None)."""
        return True if name in self._names else None


@dataclass(frozen=True)
class _Seen:
    """An answer remembered for a later comparison."""

    day: date
    seconds: float
    status: int
    body: bytes
    exchange: Exchange | None = None

    @property
    def size(self) -> int:
        request = self.exchange.request if self.exchange is not None else None
        return len(self.body) + (len(request.body) + len(request.query) + 512 if request is not None else 256)


class _Memory:
    """Answers remembered by key: at most ``keys`` of them and ``limit`` bytes, least recent out first."""

    def __init__(self, keys: int = TRAFFIC_MEMORY_KEYS, limit: int = TRAFFIC_MEMORY_BYTES) -> None:
        self._items: OrderedDict[tuple[Any, ...], _Seen] = OrderedDict()
        self._keys, self._limit, self._bytes = keys, limit, 0

    def get(self, key: tuple[Any, ...], day: date) -> _Seen | None:
        seen = self._items.get(key)
        if seen is None or seen.day != day:
            return None
        self._items.move_to_end(key)
        return seen

    def put(self, key: tuple[Any, ...], seen: _Seen) -> None:
        if seen.size > self._limit // 16:
            return
        self._drop(key)
        self._items[key] = seen
        self._bytes += seen.size
        while len(self._items) > self._keys or self._bytes > self._limit:
            self._drop(next(iter(self._items)))

    def _drop(self, key: tuple[Any, ...]) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old.size

    def forget(self, keep: Callable[[tuple[Any, ...]], bool]) -> None:
        for key in [key for key in self._items if not keep(key)]:
            self._drop(key)


@dataclass(frozen=True)
class _Window:
    """The figures one answer reported for a window (None: unbounded on that side)."""

    start: Instant | None
    end: Instant | None
    texts: tuple[str | None, str | None]
    me: bool
    caller: str | None
    figures: tuple[float | None, ...]

    @property
    def unbounded(self) -> bool:
        return self.start is None and self.end is None

    def contains(self, other: _Window) -> bool:
        """True when this window holds all of ``other``."""
        starts = self.start is None or (other.start is not None and self.start <= other.start)
        ends = self.end is None or (other.end is not None and self.end >= other.end)
        return starts and ends

    def same_instants(self, other: _Window) -> bool:
        return self.start == other.start and self.end == other.end

    def label(self) -> str:
        start, end = (cut(text, 64) if text else "(none)" for text in self.texts)
        return f"from={start} to={end} {'me=true' if self.me else '(all users)'}"


class _Windows:
    """Per (route, name, day): the windows seen, at most :data:`TRAFFIC_WINDOWS_PER_NAME` each."""

    def __init__(self, keys: int = TRAFFIC_MEMORY_KEYS, per_key: int = TRAFFIC_WINDOWS_PER_NAME) -> None:
        self._items: OrderedDict[tuple[str, str, date], list[_Window]] = OrderedDict()
        self._keys, self._per_key = keys, per_key

    def judge(self, key: tuple[str, str, date], window: _Window) -> list[Outcome]:
        seen = self._items.pop(key, [])
        outcomes = [outcome for other in seen for outcome in _compare_windows(window, other)]
        kept = [
            other
            for other in seen
            if (other.texts, other.me, other.caller) != (window.texts, window.me, window.caller)
        ]
        self._items[key] = [*kept, window][-self._per_key :]
        while len(self._items) > self._keys:
            self._items.popitem(last=False)
        return outcomes


def _compare_windows(new: _Window, old: _Window) -> Iterator[Outcome]:
    """The ``metadata-window`` sub-checks a pair of answers about one name can exercise."""
    same_caller = new.me == old.me and (not new.me or new.caller == old.caller)
    if same_caller and new.same_instants(old):
        if new.texts != old.texts:
            yield judged("metadata-window", "same-instant", list(_unequal(new, old)))
        return
    for narrow, wide in ((new, old), (old, new)):
        if not wide.contains(narrow):
            continue
        if same_caller:
            subcheck = "unbounded" if wide.unbounded else "wider"
            yield judged("metadata-window", subcheck, list(_above(narrow, wide)))
        elif narrow.me and not wide.me:
            yield judged("metadata-window", "me-not-above", list(_above(narrow, wide)))


def _above(narrow: _Window, wide: _Window) -> Iterator[Violation]:
    for key, low, high in zip(COUNTERS, narrow.figures, wide.figures, strict=True):
        if low is not None and high is not None and low > high * (1 + _TOLERANCE) + 1e-12:
            yield Violation(
                "metadata-window",
                f"/{key}",
                f"{low} for {narrow.label()} is more than the {high} reported for {wide.label()}",
            )


def _unequal(new: _Window, old: _Window) -> Iterator[Violation]:
    for key, first, second in zip(COUNTERS, new.figures, old.figures, strict=True):
        if first != second:
            yield Violation(
                "metadata-window",
                f"/{key}",
                f"{first} for {new.label()}, but {second} for the same instants as {old.label()}",
            )


def _figure(value: object) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _without_counters(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {key: item for key, item in value.items() if key not in COUNTERS}


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def fingerprint(
    version: int,
    time: datetime | None,
    *,
    head: tuple[object, ...],
    header_names: Iterable[str | bytes],
    request_body: bytes,
    answer: tuple[object, ...],
    body: bytes,
) -> bytes:
    """A digest of everything a judgment depends on: the judge's knowledge, the UTC day, the
    request line and caller, which headers were sent, both bodies, the status and content type."""
    digest = hashlib.blake2b(digest_size=16)
    day = time.astimezone(timezone.utc).date().toordinal() if time is not None else 0
    names = b",".join(name.encode("latin-1") if isinstance(name, str) else name for name in header_names)
    for part in (repr((version, day, head, answer)).encode(), names, request_body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    digest.update(body)
    return digest.digest()


def caller_of(recorded: Recorded) -> str | None:
    """Who is asking: the recording's caller label, else a hash of the token (never the token)."""
    if recorded.caller is not None:
        return recorded.caller
    token = recorded.request.authorization
    if token is None:
        return None
    return hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


class TrafficJudge:
    """Judges a stream of exchanges, one at a time, in the order given. Not thread-safe.

    ``on_failure`` hears every new failure as soon as it is found (the proxy logs it).
    ``memory_keys`` bounds the requests, names' windows and judged exchanges remembered.
    """

    def __init__(
        self,
        base_url: str,
        *,
        on_failure: Callable[[Failure], None] | None = None,
        excluded: Iterable[str] = (),
        memory_keys: int = TRAFFIC_MEMORY_KEYS,
    ) -> None:
        self.ledger = Ledger(SUBCHECKS, excluded=excluded)
        self._keys = memory_keys
        self.counts = TrafficCounts()
        self.errors: list[str] = []
        self._models, self._llms = _Names(), _Names()
        self.context = PassiveContext(
            self._knowledge(None), Facts(training_table=False, token_accepted=False)
        )
        self._judge = Judge(self.ledger, self.context, base_url)
        self._on_failure = on_failure
        self._memory = _Memory(memory_keys)
        self._windows = _Windows(memory_keys)
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._version = 0

    def start_stream(self, base_url: str) -> None:
        """Begin another stream (another file): what the last one taught is forgotten, the ledger kept.

        Names, remembered answers and windows belong to one stream, which may come from
        another server or another day; curl lines of the new stream use ``base_url``.
        """
        self._models, self._llms = _Names(), _Names()
        self._memory, self._windows = _Memory(self._keys), _Windows(self._keys)
        self._seen.clear()
        self._version += 1
        self.context.knowledge = self._knowledge(None)
        self._judge = Judge(self.ledger, self.context, base_url)

    def _knowledge(self, accepted: frozenset[str] | None) -> Knowledge:
        return Knowledge(self._models.known, self._llms.known, accepted)

    def __call__(self, recorded: Recorded, source: str, *, fingerprint: bytes | None = None) -> list[Failure]:
        """Judge one exchange; return the failures it adds (also given to ``on_failure``).

        ``fingerprint``: given by a caller that has already found it not :meth:`repeated`.
        """
        self.counts.exchanges += 1
        exchange = Exchange(recorded.request, recorded.status, recorded.headers, recorded.body)
        if not exchange.route.exists:
            self.counts.off_route += 1
            if exchange.request.method not in (*READ_METHODS, "OPTIONS"):
                self._memory.forget(lambda key: key[0] != "stable" or key[1] in ("model", "llm"))
            return []
        if not recorded.body_kept:
            self.counts.body_not_kept += 1
            return []
        if fingerprint is None and self.repeated(self._fingerprint(recorded)):
            self.counts.exchanges -= 1
            self.count_repeat()
            return []
        try:
            failures = self._judged(recorded, exchange, source)
        except Exception as exc:  # a bug in a check must not stop the stream
            if len(self.errors) < MAX_ERRORS:
                self.errors.append(
                    f"{source}: {describe(exchange.request)[:200]}: {type(exc).__name__}: {exc}"
                )
            return []
        if self._on_failure is not None:
            for failure in failures:
                self._on_failure(failure)
        return failures

    @property
    def version(self) -> int:
        """Grows whenever what the judge knows changes (a name learned, a fact found)."""
        return self._version

    def repeated(self, key: bytes) -> bool:
        """True for a :func:`fingerprint` seen before: the exchange is identical to one judged with
        the same knowledge, so it cannot add anything (the ledger counts by request, and the
        stateful rules would compare it with what its twin was compared with). Remembers the
        last ``memory_keys`` fingerprints.
        """
        if key in self._seen:
            self._seen.move_to_end(key)
            return True
        self._seen[key] = None
        if len(self._seen) > self._keys:
            self._seen.popitem(last=False)
        return False

    def count_repeat(self) -> None:
        """Count an exchange found :meth:`repeated` (judged by its twin)."""
        self.counts.exchanges += 1
        self.counts.judged += 1
        self.ledger.count_request()

    def _fingerprint(self, recorded: Recorded) -> bytes:
        request = recorded.request
        content_type = next((value for key, value in recorded.headers if key == "content-type"), "")
        return fingerprint(
            self._version,
            recorded.time,
            head=(request.method, request.path, request.query, caller_of(recorded) or ""),
            header_names=[key for key, _ in request.headers],
            request_body=request.body,
            answer=(recorded.status, content_type),
            body=recorded.body,
        )

    def no_answer(self, request: Request, error: str, source: str) -> list[Failure]:
        """A request that got no complete answer from the server: ``no-server-error``, on the API's routes."""
        self.counts.exchanges += 1
        if not route_of(request.path).exists:
            self.counts.off_route += 1
            return []
        self.counts.judged += 1
        self.ledger.count_request()
        failures = self._judge.no_answer(request, error, source)
        if self._on_failure is not None:
            for failure in failures:
                self._on_failure(failure)
        return failures

    def not_judged(self, n: int = 1) -> None:
        """Count exchanges that were seen but could not be judged (the proxy's judge fell behind)."""
        self.counts.exchanges += n
        self.counts.not_judged += n

    def outside_root(self, n: int = 1) -> None:
        """Count exchanges to URLs outside the API root (recorded files)."""
        self.counts.exchanges += n
        self.counts.outside_root += n

    def _judged(self, recorded: Recorded, exchange: Exchange, source: str) -> list[Failure]:
        self.counts.judged += 1
        self.ledger.count_request()
        token = exchange.request.authorization
        accepted = None if token is not None and exchange.status != 401 else frozenset[str]()
        self.context.knowledge = self._knowledge(accepted)
        checks = HEAD_CHECKS if exchange.request.method == "HEAD" else ALL_CHECKS
        outcomes = evaluate(exchange, self.context, checks)
        extra: list[Failure] = []
        if recorded.time is None:
            self.counts.without_time += 1
        else:
            moment = recorded.time.astimezone(timezone.utc)
            outcomes += self._stateful(exchange, moment, caller_of(recorded), extra, source)
        failures = self._judge.record(exchange.request, exchange.status, outcomes, source)
        self._learn(exchange)
        return failures + extra

    # --- what the traffic teaches ------------------------------------------------------------------

    def _learn(self, exchange: Exchange) -> None:
        if exchange.status != 200 or exchange.request.method not in READ_METHODS:
            return
        name = exchange.route.name
        if exchange.kind == "llm":
            self._version += self._llms.add(name)
        if exchange.kind != "model":
            return
        self._version += self._models.add(name)
        document = exchange.document()
        if document is None or self.context.document_violations(exchange):
            return
        models = document.get("models")
        for entry in models if isinstance(models, list) else []:
            if isinstance(entry, dict):
                self._version += self._llms.add(entry.get("name"))
        weight = document.get("weight")
        if isinstance(weight, dict) and weight.get("type") == "training_table":
            self._set_fact(training_table=True)

    def _set_fact(self, **fact: bool) -> None:
        facts = replace(self.context.facts, **fact)
        if facts != self.context.facts:
            self.context.facts = facts
            self._version += 1

    # --- the stateful rules -------------------------------------------------------------------------

    def _stateful(
        self, exchange: Exchange, moment: datetime, caller: str | None, extra: list[Failure], source: str
    ) -> list[Outcome]:
        day, seconds = moment.date(), moment.timestamp()
        pairs = query_pairs(exchange.request.query)
        me = ("me", "true") in pairs
        if me and exchange.status == 200 and exchange.request.authorization is not None:
            self._set_fact(token_accepted=True)
        outcomes = list(self._stable(exchange, day, seconds, pairs, caller if me else None))
        outcomes += self._ignored(exchange, day, seconds, pairs, extra=extra, source=source)
        outcomes += self._window(exchange, day, pairs, caller)
        return outcomes

    def _stable(
        self,
        exchange: Exchange,
        day: date,
        seconds: float,
        pairs: tuple[tuple[str, str], ...],
        caller: str | None,
    ) -> Iterator[Outcome]:
        face = _STABLE_FACES.get(exchange.kind or "")
        if face is None or exchange.request.method != "GET" or exchange.status >= 500:
            return
        key = ("stable", face, exchange.request.path, pairs, caller)
        before = self._memory.get(key, day)
        shared = face in ("list", "metadata")
        if before is not None and not (shared and seconds - before.seconds > SHARED_STABLE_SECONDS):
            yield from _same_answer(face, before, exchange)
        if exchange.status == 200 and exchange.document() is not None:
            self._memory.put(key, _Seen(day, seconds, 200, exchange.body))

    def _ignored(
        self,
        exchange: Exchange,
        day: date,
        seconds: float,
        pairs: tuple[tuple[str, str], ...],
        *,
        extra: list[Failure],
        source: str,
    ) -> Iterator[Outcome]:
        face = _IGNORED_FACES.get(exchange.kind or "")
        if face is None or exchange.status >= 500 or metadata_requested(exchange.request) is not False:
            return
        request = exchange.request
        plain = tuple((key, value) for key, value in pairs if key not in _WINDOW_PARAMETERS)
        digest = hashlib.blake2b(request.body, digest_size=16).digest() if request.body else b""
        identity = (face, request.method, request.path, plain, digest)
        seen = _Seen(day, seconds, exchange.status, exchange.body, exchange)
        if has_ignored_params(request):
            other = self._memory.get(("plain", *identity), day)
            if other is not None:
                yield _ignored_outcome(face, exchange, other)
            self._memory.put(("ignored", *identity), seen)
            return
        other = self._memory.get(("ignored", *identity), day)
        if other is not None and other.exchange is not None:
            outcome = _ignored_outcome(face, other.exchange, seen)
            extra += self._judge.record(other.exchange.request, other.status, [outcome], source)
        self._memory.put(("plain", *identity), seen)

    def _window(
        self, exchange: Exchange, day: date, pairs: tuple[tuple[str, str], ...], caller: str | None
    ) -> list[Outcome]:
        document = exchange.document()
        if (
            exchange.kind not in ("model", "llm")
            or exchange.request.method != "GET"
            or document is None
            or metadata_requested(exchange.request) is not True
        ):
            return []
        values = {key: value for key, value in reversed(pairs) if value}
        texts = (values.get("from"), values.get("to"))
        moments = tuple(instant(text) if text is not None else None for text in texts)
        me = values.get("me") == "true"
        if any(text is not None and moment is None for text, moment in zip(texts, moments, strict=True)):
            return []
        if me and caller is None:
            return []
        window = _Window(
            moments[0],
            moments[1],
            texts,
            me,
            caller if me else None,
            tuple(_figure(document.get(key)) for key in COUNTERS),
        )
        return self._windows.judge((exchange.kind, exchange.route.name or "", day), window)

    # --- the verdict ----------------------------------------------------------------------------------

    def report(
        self,
        *,
        title: str,
        target: str,
        seconds: float,
        notes: Iterable[str] = (),
        settings: dict[str, Any] | None = None,
    ) -> TrafficReport:
        """The verdict on everything judged so far."""
        counts = self.counts
        summary = (
            f"{counts.exchanges} exchanges: {counts.judged} judged, "
            f"{counts.off_route} not on the API's routes"
            + (f", {counts.outside_root} to other URLs" if counts.outside_root else "")
            + (f", {counts.body_not_kept} with a body not kept" if counts.body_not_kept else "")
            + (f", {counts.not_judged} not judged (the judge fell behind)" if counts.not_judged else "")
            + (f", {counts.without_time} without a time" if counts.without_time else "")
        )
        return TrafficReport(
            title=title,
            target=target,
            rows=tuple(self.ledger.rows(self.context.facts)),
            failures=tuple(self.ledger.failures()),
            requests=counts.judged,
            seconds=seconds,
            errors=tuple(self.errors),
            notes=(summary, PASSIVE_NOTE, *notes),
            settings={**counts.settings(), **(settings or {})},
        )


def _same_answer(face: str, before: _Seen, exchange: Exchange) -> Iterator[Outcome]:
    """``stable``: an answer seen before (200) against this one."""
    if exchange.status != 200:
        if exchange.status == 401 and exchange.request.authorization is not None:
            return  # a token refused now is not the contract's to say
        yield broken(
            "stable", face, "", f"the same request got 200 earlier the same day, now {exchange.status}"
        )
        return
    if before.body == exchange.body:
        yield held("stable", face)
        return
    first, second = _parsed(before.body), exchange.document()
    if second is None:
        return  # not a JSON object: the document rules report it
    if face in ("model", "llm"):
        first, second = _without_counters(first), _without_counters(second)
    where = first_difference(first, second)
    if where is None:
        yield held("stable", face)
    else:
        yield broken(
            "stable", face, where, "differs from the answer to the same request earlier the same day"
        )


def _ignored_outcome(face: str, ignored: Exchange, plain: _Seen) -> Outcome:
    """``ignored-params``: an answer with ignored parameters against the answer without them."""
    if ignored.status != plain.status:
        return broken(
            "ignored-params",
            face,
            "",
            f"got {ignored.status}, but {plain.status} without the ignored me/from/to",
        )
    if ignored.status != 200:
        return held("ignored-params", face)
    where = first_difference(ignored.parsed, _parsed(plain.body))
    if where is None:
        return held("ignored-params", face)
    return broken("ignored-params", face, where, "differs from the answer without the ignored me/from/to")


def violation_lines(failure: Failure) -> list[str]:
    """One log line per violation: rule, sub-check, pointer, reason, the request and a curl line.

    Control characters are escaped and long values cut, so a line can be neither forged nor huge.
    """
    status = failure.status if failure.status is not None else "no response"
    return [
        escape_for_log(
            f"violation: {failure.rule} ({failure.subcheck}) {shown_pointer(violation.path)}: "
            f"{cut(violation.message, 400)} | {failure.request} -> {status} | {cut(failure.curl, 2048)}"
        )
        for violation in failure.violations
    ]


__all__ = [
    "PASSIVE_NOTE",
    "PassiveContext",
    "TrafficCounts",
    "TrafficJudge",
    "TrafficReport",
    "violation_lines",
]
