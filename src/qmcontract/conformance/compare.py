"""Comparing two servers' answers to one request, rule by rule.

Two servers of a content-addressed API that hold the same Query Models must answer the same
request the same way: the same status, the same media type, the same error ``code``, and the same
document as a JSON value (key order and ``1`` against ``1.0`` do not count; ``true`` against ``1``
does). :func:`compare` says, for one request sent to server A and server B, which rules that
request touches and whether the two answers agree on each, as the
:class:`~qmcontract.conformance.subchecks.Outcome` values the conformance ledger counts: held
when they agree, broken (with the JSON pointer and both values) when they do not.

The rule a difference is filed under comes from the conformance suite, never re-derived here:

- a status difference: a 5xx on either side is ``no-server-error``; a request carrying ignored
  parameters is ``ignored-params``; otherwise the rule and sub-check that the status check
  (:func:`~qmcontract.conformance.checks.status_rules`, which asks the contract's oracle) reports
  broken on either answer (``bad-request``, ``auth-required``, ``not-found``, or the rule that owns
  "this must succeed": ``slug-echo``, ``llm-lookup``, ``list-names``, ``validate-echo``,
  ``metadata-global``);
- a media-type difference: ``content-type``; an error-code difference: ``error-body``;
- a document difference: the rule that owns the document (``slug-echo`` for a named object,
  ``validate-echo`` for a POST, ``list-names`` or, with metadata, ``list-sort`` for a list,
  ``metadata-global`` for the totals) and every document rule that one document breaks and the
  other does not (:func:`~qmcontract.validate.validate_query_model` on both).

Usage figures (the nine metadata fields, the eleven global totals, a list's order by a figure or
its ``me=true`` membership) differ between any two deployments, so they are compared only when
:attr:`Comparison.metadata` is set.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from qmcontract.conformance.checks import Context, first_difference, status_rules
from qmcontract.conformance.exchange import Exchange
from qmcontract.conformance.expect import Knowledge, expect, has_ignored_params, metadata_requested
from qmcontract.conformance.probes import SORTS
from qmcontract.conformance.subchecks import SUBCHECKS, Facts, Outcome, held, judged
from qmcontract.errors import Violation
from qmcontract.limits import MAX_QUOTED
from qmcontract.routes import LLMS_PATH, query_values, route_of
from qmcontract.rules import DOCUMENT_RULES, GLOBAL_METADATA_FIELDS, LLM_RULES, METADATA_FIELDS
from qmcontract.validate import validate_query_llm, validate_query_model
from qmcontract.wire import Request

#: A list asked for no ``count`` holds at most this many names (contract: "The API family").
DEFAULT_LIST_COUNT: Final = 100
#: Names shown when saying which names only one list holds.
SHOWN_NAMES: Final = 5
#: Per route: the rule that owns its document, and the face of the document rules.
_OWNERS: Final = {
    "model": ("slug-echo", "model", "model"),
    "llm": ("slug-echo", "llm", "llm"),
    "model-validate": ("validate-echo", "query_models", "post-model"),
    "llm-validate": ("validate-echo", "query_llms", "post-llm"),
}
_IGNORED_FACES: Final = {"model": "model", "llm": "llm", "model-validate": "post", "llm-validate": "post"}


class _Marker:
    """A value no JSON body holds: a field that is absent, or a body that is not JSON."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


ABSENT: Final = _Marker("nothing")
NOT_JSON: Final = _Marker("a body that is not JSON")


@dataclass(frozen=True)
class _Boolean:
    """A JSON boolean that equals only the same boolean (Python's ``True == 1`` is not JSON's)."""

    value: bool


@dataclass(frozen=True)
class Comparison:
    """How answers are compared: what the run knows of the names, and whether figures count.

    It remembers what the document rules found in each distinct document (the same document comes
    back to many requests), so use one per run, from one thread.
    """

    knowledge: Knowledge
    metadata: bool = False
    _found: dict[tuple[bool, bool | None, bytes], dict[str, list[Violation]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def violations(self, document: Any, *, entry: bool, metadata: bool | None) -> dict[str, list[Violation]]:
        """The document rules a document breaks, by rule (an LLM ``entry`` or a Query Model)."""
        text = json.dumps(document, sort_keys=True, ensure_ascii=False, default=repr).encode()
        key = (entry, metadata, hashlib.blake2b(text, digest_size=16).digest())
        if key not in self._found:
            validate = validate_query_llm if entry else validate_query_model
            self._found[key] = _by_rule(validate(document, metadata=metadata))
        return self._found[key]

    def context(self) -> Context:
        """A context for the status check: the oracle's knowledge, no sender (nothing is asked again)."""
        return Context(self.knowledge, Facts(training_table=True, token_accepted=True))


def compare(a: Exchange, b: Exchange, how: Comparison, context: Context | None = None) -> list[Outcome]:
    """Every rule one request touches, held where A's and B's answers agree, broken where not."""
    context = context if context is not None else how.context()
    outcomes = _statuses(a, b, how, context)
    outcomes.append(_media_types(a, b))
    if a.status == b.status:
        outcomes += _error_codes(a, b)
        outcomes += _documents(a, b, how)
    return outcomes


def unanswered(a: Exchange | str, b: Exchange | str) -> Outcome | None:
    """``no-server-error`` when one side got no response at all (its error is the text given);
    None when neither did (there is nothing to compare)."""
    if isinstance(a, str) and isinstance(b, str):
        return None
    silent, error, other, answer = ("A", a, "B", b) if isinstance(a, str) else ("B", b, "A", a)
    status = answer.status if isinstance(answer, Exchange) else None
    message = f"{silent} got no response ({error}); {other} answered {status}"
    return Outcome("no-server-error", "no-5xx", (Violation("no-server-error", "", message),))


# --- status ---------------------------------------------------------------------------------------------


def _statuses(a: Exchange, b: Exchange, how: Comparison, context: Context) -> list[Outcome]:
    """``no-server-error`` always; then the rule of the request's case."""
    request, statuses = a.request, (a.status, b.status)
    differs = a.status != b.status
    message = f"A answered {a.status}, B answered {b.status}"
    if max(statuses) >= 500:
        return [_agree("no-server-error", "no-5xx", differs, "", message)]
    outcomes = [held("no-server-error", "no-5xx")]
    face = _IGNORED_FACES.get(a.kind or "")
    if face is not None and has_ignored_params(request):
        reason = "; without metadata=true, me, from and to change nothing"
        return [*outcomes, _agree("ignored-params", face, differs, "", message + reason)]
    places = _status_places(a, b, context)
    if not differs:
        return [*outcomes, *(held(rule, subcheck) for rule, subcheck in places)]
    expected = expect(request, how.knowledge)
    if expected is not None:
        message += f"; the contract says {expected.status} ({expected.reason})"
    return [*outcomes, *(_agree(rule, subcheck, True, "", message) for rule, subcheck in places)]


def _status_places(a: Exchange, b: Exchange, context: Context) -> list[tuple[str, str]]:
    """The (rule, sub-check) pairs the status check touches: those broken on either side when the
    statuses differ, else all it ran on A; the route's own owner when the oracle does not say."""
    judged_a, judged_b = list(status_rules(a, context)), list(status_rules(b, context))
    if a.status != b.status:
        places = [(o.rule, o.subcheck) for o in (*judged_a, *judged_b) if o.violations]
    else:
        places = [(o.rule, o.subcheck) for o in judged_a]
    return list(dict.fromkeys(places)) or [_route_owner(a.request, (a.status, b.status))]


def _route_owner(request: Request, statuses: tuple[int, int]) -> tuple[str, str]:
    """The rule of a request the oracle does not judge (a name only one server lists, an extra path
    segment): the route's success owner when either side answered 200, else ``not-found``."""
    kind = route_of(request.path).kind(request.method)
    served = 200 in statuses
    owners: dict[str | None, tuple[str, str]] = {
        "model": ("slug-echo", "known-model") if served else ("not-found", "unknown-model"),
        "llm": ("llm-lookup", "entry") if served else ("not-found", "unknown-llm"),
        "model-validate": ("validate-echo", "query_models") if served else ("not-found", "unserved-model"),
        "llm-validate": ("validate-echo", "query_llms") if served else ("not-found", "unserved-llm"),
        "model-list": ("list-names", "answered"),
        "model-count": ("list-names", "count"),
        "metadata": ("metadata-global", "answered"),
    }
    default = ("not-found", "malformed-llm" if request.path.startswith(LLMS_PATH) else "malformed-model")
    return owners.get(kind, default)


def _agree(rule: str, subcheck: str, differs: bool, path: str, message: str) -> Outcome:
    return Outcome(rule, subcheck, (Violation(rule, path, message),) if differs else ())


# --- headers and error bodies ---------------------------------------------------------------------------


def _media_types(a: Exchange, b: Exchange) -> Outcome:
    """``content-type``: the media types (without parameters such as ``charset``) are the same."""
    subcheck = "error" if max(a.status, b.status) >= 400 else "success"
    sent = [repr(e.content_type) if e.content_type is not None else "no Content-Type" for e in (a, b)]
    message = f"A sent {sent[0]}, B sent {sent[1]}"
    return _agree("content-type", subcheck, a.media_type() != b.media_type(), "", message)


def _error_codes(a: Exchange, b: Exchange) -> list[Outcome]:
    """``error-body``: two answers with the same error status carry the same ``code``."""
    if a.status < 400:
        return []
    codes = [_code(body(exchange)) for exchange in (a, b)]
    where = json_difference(*codes)
    message = f"A's code is {shown(codes[0])}, B's is {shown(codes[1])}"
    return [_agree("error-body", "code", where is not None, "/code", message)]


def _code(value: Any) -> Any:
    return value.get("code", ABSENT) if isinstance(value, dict) else value


# --- documents ------------------------------------------------------------------------------------------


def body(exchange: Exchange) -> Any:
    """The body as a JSON value, or :data:`NOT_JSON`."""
    try:
        value = exchange.parsed
    except RecursionError:
        return NOT_JSON
    return NOT_JSON if value is None and exchange.body.strip() != b"null" else value


def _documents(a: Exchange, b: Exchange, how: Comparison) -> list[Outcome]:
    """The documents of two 200 answers, by route."""
    kind = a.kind or ""
    if a.status != 200 or a.request.method == "HEAD":
        return []
    left, right = body(a), body(b)
    if kind in _OWNERS:
        return list(_named_documents(a.request, kind, (left, right), how))
    if kind == "model-list":
        return _lists(a.request, (left, right), how)
    if kind == "model-count":
        return [_same("list-names", "count", left, right)]
    if kind == "metadata":
        hidden = () if how.metadata else GLOBAL_METADATA_FIELDS
        return [_same("metadata-global", "answered", _without(left, hidden), _without(right, hidden))]
    return []


def _named_documents(
    request: Request, kind: str, documents: tuple[Any, Any], how: Comparison
) -> Iterator[Outcome]:
    """The owner of a Query Model or LLM document, and each document rule the two disagree on."""
    rule, subcheck, face = _OWNERS[kind]
    hidden = () if how.metadata else METADATA_FIELDS
    left, right = (_without(document, hidden) for document in documents)
    found = _same(rule, subcheck, left, right)
    yield found
    metadata = metadata_requested(request) if how.metadata else None
    rules = _document_rules(face, metadata)
    if not found.violations:
        yield from (held(rule, subcheck) for rule, subcheck in rules)
        return
    entry = face in ("llm", "post-llm")
    broken = [how.violations(document, entry=entry, metadata=metadata) for document in (left, right)]
    for rule, subcheck in rules:
        yield judged(rule, subcheck, list(_disagreement(rule, broken[0].get(rule), broken[1].get(rule))))


def _document_rules(face: str, metadata: bool | None) -> list[tuple[str, str]]:
    """(rule, sub-check) of every document rule a document of this face is judged on; the metadata
    rules only when ``metadata`` says whether the request asked for metadata (None: not judged)."""
    names = (*LLM_RULES, "weight-values") if face in ("llm", "post-llm") else tuple(DOCUMENT_RULES)
    rules = [(rule, face) for rule in names if not rule.startswith("metadata-")]
    if metadata is not None:
        where = "post" if face.startswith("post") else face
        rules += [("metadata-presence", where), ("metadata-values", where)]
    return [(rule, subcheck) for rule, subcheck in rules if subcheck in SUBCHECKS[rule]]


def _by_rule(violations: Iterable[Violation]) -> dict[str, list[Violation]]:
    grouped: dict[str, list[Violation]] = {}
    for violation in violations:
        grouped.setdefault(violation.rule, []).append(violation)
    return grouped


def _disagreement(
    rule: str, left: list[Violation] | None, right: list[Violation] | None
) -> Iterator[Violation]:
    """A rule broken on one side only: what breaks it there."""
    if bool(left) == bool(right):
        return
    side, other, found = ("A", "B", left) if left else ("B", "A", right)
    for violation in found or ():
        yield Violation(rule, violation.path, f"{side} breaks {rule}, {other} does not: {violation.message}")


def _lists(request: Request, lists: tuple[Any, Any], how: Comparison) -> list[Outcome]:
    """``GET /query_models``: the same names in the same order. An order by a usage figure, and who
    used what (``me=true``), count only with metadata; without, a sorted list is compared as a set
    of names when neither page was cut, else by its length."""
    values = query_values(request.query)
    sort = next(iter(values.get("sort", ())), None)
    me = "true" in values.get("me", ())
    if not (sort or me):
        return [_same("list-names", "answered", *lists)]
    if how.metadata:
        subcheck = "me" if me else sort if sort in SORTS else "answered"
        return [_same("list-sort" if subcheck != "answered" else "list-names", subcheck, *lists)]
    if me:
        return []
    left, right = _data(lists[0]), _data(lists[1])
    if left is None or right is None:
        return [_same("list-names", "answered", *lists)]
    if _complete(values, left, right):
        differs = sorted(map(json.dumps, left)) != sorted(map(json.dumps, right))
        message = "the lists hold other names" + _list_detail(left, right)
    else:
        differs = len(left) != len(right)
        message = f"A lists {len(left)} names, B lists {len(right)}"
    return [_agree("list-names", "answered", differs, "/data", message)]


def _data(value: Any) -> list[Any] | None:
    data = value.get("data") if isinstance(value, dict) else None
    return data if isinstance(data, list) else None


def _complete(values: dict[str, list[str]], left: list[Any], right: list[Any]) -> bool:
    """Whether both pages hold fewer names than asked for, so neither list was cut."""
    asked = next(iter(values.get("count", ())), str(DEFAULT_LIST_COUNT))
    digits = asked.lstrip("0") or "0"
    limit = int(digits) if asked.isascii() and asked.isdigit() and len(digits) <= 9 else 0
    return max(len(left), len(right)) < limit


def _same(rule: str, subcheck: str, left: Any, right: Any) -> Outcome:
    """Held when the two values are the same JSON value; else where they first differ, and how."""
    where = json_difference(left, right)
    if where is None:
        return held(rule, subcheck)
    a, b = value_at(left, where), value_at(right, where)
    message = f"A has {shown(a)}, B has {shown(b)}"
    if isinstance(a, list) and isinstance(b, list):
        message += _list_detail(a, b)
    return Outcome(rule, subcheck, (Violation(rule, where, message),))


def _list_detail(left: list[Any], right: list[Any]) -> str:
    """How two lists differ as sets: how many items each has, and which only one of them holds."""
    texts = [[json.dumps(item, ensure_ascii=False) for item in items] for items in (left, right)]
    parts = [f"{len(left)} items against {len(right)}"]
    for side, mine, theirs in (("A", texts[0], texts[1]), ("B", texts[1], texts[0])):
        others = set(theirs)
        only = [item for item in dict.fromkeys(mine) if item not in others]
        if only:
            more = ", ..." if len(only) > SHOWN_NAMES else ""
            parts.append(f"only {side} has {len(only)}: {', '.join(only[:SHOWN_NAMES])}{more}")
    return f" ({'; '.join(parts)})"


def _without(value: Any, keys: Iterable[str]) -> Any:
    hidden = frozenset(keys)
    if not hidden or not isinstance(value, dict):
        return value
    return {key: item for key, item in value.items() if key not in hidden}


# --- JSON values ----------------------------------------------------------------------------------------


def json_difference(left: Any, right: Any) -> str | None:
    """JSON pointer of the first place two JSON values differ, or None when they are the same value.

    :func:`~qmcontract.conformance.checks.first_difference` decides (key order and ``1`` against
    ``1.0`` do not count); booleans are wrapped first so that ``true`` never equals ``1``.
    """
    return first_difference(_strict(left), _strict(right))


def _strict(value: Any) -> Any:
    if isinstance(value, bool):
        return _Boolean(value)
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strict(item) for item in value]
    return value


def value_at(value: Any, pointer: str) -> Any:
    """The value at a JSON pointer, or :data:`ABSENT`."""
    for token in pointer.split("/")[1:] if pointer else ():
        key = token.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict):
            value = value.get(key, ABSENT)
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return ABSENT
    return value


def shown(value: Any) -> str:
    """A value as JSON in a message, cut to :data:`~qmcontract.limits.MAX_QUOTED` characters."""
    if isinstance(value, _Marker):
        return value.text
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_QUOTED else f"{text[: MAX_QUOTED - 1]}… ({len(text)} characters)"
