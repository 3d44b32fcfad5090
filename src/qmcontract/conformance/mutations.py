"""Deliberately broken variants of the mock server, each breaking exactly one rule (test-only).

A :class:`Mutation` builds an :class:`~qmcontract.engine.Engine` response hook,
``(request, response) -> response``, for a catalogue; the server's ``hook=`` parameter
takes it. Nothing enables a mutation by default: they exist so that the conformance suite
can be shown to catch each broken rule under the right id (``tests/test_mutations.py``,
``benchmarks/conformance.py``).

Every document stays a consistent hash where the rule allows it: a document rule that
cannot break without breaking a name too (``llm-count``, ``weight-match``,
``weight-values``) has no variant here, since a server can only break it together with
``llm-name`` or ``slug-echo``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

from qmcontract.catalog import Catalog
from qmcontract.engine import Engine, ResponseHook
from qmcontract.names import hash_name
from qmcontract.params import BadParameter, parse_bool, parse_stats_params
from qmcontract.params import parse_instant as parse_datetime
from qmcontract.routes import MODELS_PATH as ROUTE_PREFIX
from qmcontract.routes import query_values
from qmcontract.rules import METADATA_FIELDS
from qmcontract.wire import Request, Response, encode_json, error_response, json_response

COUNTERS: Final = METADATA_FIELDS[2:]
HookFactory = Callable[[Catalog], ResponseHook]


@dataclass(frozen=True)
class Mutation:
    """A broken server: its name, the one rule it breaks, what it does, and its hook factory."""

    name: str
    rule: str
    description: str
    build: HookFactory

    def hook(self, catalog: Catalog) -> ResponseHook:
        """The response hook for a server of ``catalog``."""
        return self.build(catalog)


# --- helpers --------------------------------------------------------------------------------------


def _slug(request: Request) -> str | None:
    rest = request.path[len(ROUTE_PREFIX) + 1 :] if request.path.startswith(ROUTE_PREFIX + "/") else None
    return None if rest is None or "/" in rest or rest in ("", "count") else rest


def _pairs(request: Request) -> list[tuple[str, str]]:
    return parse_qsl(request.query, keep_blank_values=True)


def _without(request: Request, *keys: str) -> Request:
    return replace(request, query=urlencode([(k, v) for k, v in _pairs(request) if k not in keys]))


def _metadata(request: Request) -> bool | None:
    values = query_values(request.query).get("metadata", [])
    if len(values) > 1:
        return None
    try:
        return parse_bool(values[0] if values else None, "metadata")
    except BadParameter:
        return None


def _dates(request: Request) -> dict[str, tuple[str, datetime | BadParameter | None]]:
    """Each given ``from``/``to`` with its parsed value, or the error it raises."""
    found: dict[str, tuple[str, datetime | BadParameter | None]] = {}
    for key in ("from", "to"):
        values = query_values(request.query).get(key, [])
        if len(values) == 1:
            try:
                found[key] = (values[0], parse_datetime(values[0], key))
            except BadParameter as exc:
                found[key] = (values[0], exc)
    return found


def _document_hook(change: Callable[[dict[str, Any], Request], bool]) -> HookFactory:
    """A hook factory that rewrites 200 retrieve documents; ``change`` edits one in place."""

    def factory(_catalog: Catalog) -> ResponseHook:
        def hook(request: Request, response: Response) -> Response:
            if response.status != 200 or _slug(request) is None:
                return response
            document = json.loads(response.body)
            if not change(document, request):
                return response
            return replace(response, body=encode_json(document))

        return hook

    return factory


def _retry_hook(when: Callable[[Request, Response], Request | None]) -> HookFactory:
    """A hook factory that answers some requests as the engine answers another request."""

    def factory(catalog: Catalog) -> ResponseHook:
        reference = Engine(catalog)

        def hook(request: Request, response: Response) -> Response:
            other = when(request, response) if _slug(request) is not None else None
            return reference.handle(other) if other is not None else response

        return hook

    return factory


def _response_hook(change: Callable[[Request, Response], Response | None]) -> HookFactory:
    def factory(_catalog: Catalog) -> ResponseHook:
        def hook(request: Request, response: Response) -> Response:
            changed = change(request, response)
            return response if changed is None else changed

        return hook

    return factory


# --- exchange rules -------------------------------------------------------------------------------


def _other_model(catalog: Catalog) -> ResponseHook:
    reference, names = Engine(catalog), catalog.names()

    def hook(request: Request, response: Response) -> Response:
        slug = _slug(request)
        if response.status != 200 or slug not in names:
            return response
        other = names[(names.index(slug) + 1) % len(names)]
        return reference.handle(replace(request, path=f"{ROUTE_PREFIX}/{other}"))

    return hook


def _unknown_is_bad(request: Request, response: Response) -> Response | None:
    if response.status == 404 and _slug(request) is not None:
        return error_response(400, "invalid Query Model name")
    return None


def _me_served(request: Request, response: Response) -> Request | None:
    return _without(request, "me") if response.status == 401 else None


def _from_after_to(request: Request, response: Response) -> Request | None:
    dates = _dates(request)
    start, end = dates.get("from", ("", None))[1], dates.get("to", ("", None))[1]
    if response.status == 400 and isinstance(start, datetime) and isinstance(end, datetime) and start > end:
        return _without(request, "from", "to")
    return None


def _bad_date_dropped(request: Request, response: Response) -> Request | None:
    broken = [key for key, (_, value) in _dates(request).items() if isinstance(value, BadParameter)]
    if response.status != 400 or not broken:
        return None
    fixed = _without(request, *broken)
    return fixed if _parses(fixed) else None


def _parses(request: Request) -> bool:
    try:
        parse_stats_params(request.query)
    except BadParameter:
        return False
    return True


def _metadata_as_false(request: Request, response: Response) -> Request | None:
    values = query_values(request.query).get("metadata", [])
    if response.status == 400 and len(values) == 1 and values[0] not in ("true", "false"):
        return _without(request, "metadata")
    return None


def _ignored_from_checked(request: Request, _response: Response) -> Response | None:
    given = _dates(request).get("from")
    if _metadata(request) is False and given is not None and isinstance(given[1], BadParameter):
        return error_response(400, f"`from` must be an RFC 3339 date-time, got {given[0]!r}")
    return None


def _error_without_code(_request: Request, response: Response) -> Response | None:
    if response.status < 400:
        return None
    return replace(response, body=encode_json({"message": json.loads(response.body).get("message")}))


def _error_code_as_text(_request: Request, response: Response) -> Response | None:
    if response.status < 400:
        return None
    body = json.loads(response.body)
    return replace(response, body=encode_json({**body, "code": str(response.status)}))


def _text_plain(request: Request, response: Response) -> Response | None:
    if response.status != 200 or _slug(request) is None:
        return None
    return replace(response, headers=(("content-type", "text/plain; charset=utf-8"),))


def _unstable_created(_catalog: Catalog) -> ResponseHook:
    calls = itertools.count()

    def hook(request: Request, response: Response) -> Response:
        if response.status != 200 or _slug(request) is None or _metadata(request) is not True:
            return response
        document = json.loads(response.body)
        created = datetime(2025, 10, 3, tzinfo=timezone.utc) + timedelta(seconds=next(calls))
        document["created"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
        return json_response(200, encode_json(document))

    return hook


def _scaled(document: dict[str, Any], factor: int, extra: int = 0) -> None:
    for key in COUNTERS:
        value = document.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            document[key] = value * factor + extra


def _narrow_inflated(document: dict[str, Any], request: Request) -> bool:
    if _metadata(request) is not True or not _dates(request):
        return False
    _scaled(document, 2)
    return True


def _me_inflated(document: dict[str, Any], request: Request) -> bool:
    if _metadata(request) is not True or query_values(request.query).get("me") != ["true"]:
        return False
    _scaled(document, 1, 1)
    return True


def _server_error_on_bad_date(request: Request, response: Response) -> Response | None:
    bad = any(isinstance(value, BadParameter) for _, value in _dates(request).values())
    if response.status == 400 and _metadata(request) is True and bad:
        return error_response(500, "Internal Server Error")
    return None


# --- document rules ------------------------------------------------------------------------------


def _weight_changed(document: dict[str, Any], _request: Request) -> bool:
    weight = document["models"][0]["weight"]
    key = "weight" if weight["type"] == "static" else "max_weight"
    weight[key] = weight[key] * 2
    return True


def _top_changed(document: dict[str, Any], _request: Request) -> bool:
    weight = document["weight"]
    if weight["type"] != "training_table":
        return False
    weight["top"] = weight["top"] - 1 if weight["top"] > 1 else weight["top"] + 1
    return True


def _index_swapped(document: dict[str, Any], _request: Request) -> bool:
    models = document["models"]
    if len(models) < 2:
        return False
    models[0]["index"], models[1]["index"] = models[1]["index"], models[0]["index"]
    return True


def _static_table_index(document: dict[str, Any], _request: Request) -> bool:
    if document["weight"]["type"] != "static":
        return False
    for llm in document["models"]:
        llm["training_table_index"] = 0
    return True


def _model_table_renamed(document: dict[str, Any], _request: Request) -> bool:
    if "training_table_name" not in document:
        return False
    document["training_table_name"] = hash_name("qmcontract: not this model's training table")
    return True


def _table_index_reversed(document: dict[str, Any], _request: Request) -> bool:
    names = sorted({llm["training_table_name"] for llm in document["models"] if "training_table_name" in llm})
    if len(names) < 2:
        return False
    for llm in document["models"]:
        llm["training_table_index"] = len(names) - 1 - llm["training_table_index"]
    return True


def _metadata_field_dropped(document: dict[str, Any], request: Request) -> bool:
    if _metadata(request) is not True:
        return False
    del document["embedding_cost"]
    return True


def _empty_user_id(document: dict[str, Any], request: Request) -> bool:
    if _metadata(request) is not True:
        return False
    document["user_id"] = ""
    return True


def _unknown_field(document: dict[str, Any], _request: Request) -> bool:
    document["deprecated"] = False
    return True


def _effort_with_budget(document: dict[str, Any], _request: Request) -> bool:
    changed = False
    for llm in document["models"]:
        reasoning = llm.get("reasoning")
        if isinstance(reasoning, dict) and "max_tokens" in reasoning and "effort" not in reasoning:
            reasoning["effort"] = "low"
            changed = True
    return changed


def _mutations() -> Iterator[Mutation]:
    yield Mutation("echo-other-model", "slug-echo", "a known slug gets another model", _other_model)
    yield Mutation(
        "unknown-slug-400", "not-found", "an unknown slug gets 400", _response_hook(_unknown_is_bad)
    )
    yield Mutation(
        "me-without-token", "auth-required", "me=true without a token is served", _retry_hook(_me_served)
    )
    yield Mutation(
        "from-after-to-accepted", "bad-request", "from later than to is served", _retry_hook(_from_after_to)
    )
    yield Mutation(
        "bad-date-ignored", "bad-request", "a malformed from/to is dropped", _retry_hook(_bad_date_dropped)
    )
    yield Mutation(
        "bad-metadata-as-false",
        "bad-request",
        "a malformed metadata value reads as false",
        _retry_hook(_metadata_as_false),
    )
    yield Mutation(
        "ignored-from-checked",
        "ignored-params",
        "a malformed from gets 400 without metadata=true",
        _response_hook(_ignored_from_checked),
    )
    yield Mutation(
        "error-without-code", "error-body", "error bodies lack code", _response_hook(_error_without_code)
    )
    yield Mutation(
        "error-code-as-text",
        "error-body",
        'error code is "404", a string',
        _response_hook(_error_code_as_text),
    )
    yield Mutation(
        "json-as-text", "content-type", "documents sent as text/plain", _response_hook(_text_plain)
    )
    yield Mutation("unstable-created", "stable", "created changes on every call", _unstable_created)
    yield Mutation(
        "narrow-window-inflated",
        "metadata-window",
        "a bounded window reports twice the figures",
        _document_hook(_narrow_inflated),
    )
    yield Mutation(
        "me-above-all-users",
        "metadata-window",
        "me=true reports one more than all users",
        _document_hook(_me_inflated),
    )
    yield Mutation(
        "500-on-bad-date",
        "no-server-error",
        "a malformed from/to with metadata=true gets 500",
        _response_hook(_server_error_on_bad_date),
    )
    yield Mutation(
        "llm-weight-changed",
        "llm-name",
        "an LLM weight changes, its name does not",
        _document_hook(_weight_changed),
    )
    yield Mutation(
        "model-top-changed",
        "model-name",
        "top changes, the model name does not",
        _document_hook(_top_changed),
    )
    yield Mutation(
        "index-swapped", "order-index", "models 0 and 1 swap index", _document_hook(_index_swapped)
    )
    yield Mutation(
        "static-table-index",
        "training-table-presence",
        "static LLMs carry training_table_index",
        _document_hook(_static_table_index),
    )
    yield Mutation(
        "model-table-renamed",
        "training-table-name",
        "the model's training_table_name is wrong",
        _document_hook(_model_table_renamed),
    )
    yield Mutation(
        "table-index-reversed",
        "training-table-index",
        "training_table_index counts from the end",
        _document_hook(_table_index_reversed),
    )
    yield Mutation(
        "metadata-field-dropped",
        "metadata-presence",
        "embedding_cost missing with metadata=true",
        _document_hook(_metadata_field_dropped),
    )
    yield Mutation("empty-user-id", "metadata-values", "user_id is empty", _document_hook(_empty_user_id))
    yield Mutation(
        "unknown-field", "schema", "documents carry an unknown field", _document_hook(_unknown_field)
    )
    yield Mutation(
        "effort-with-budget",
        "llm-params",
        "reasoning.effort added beside max_tokens (not hashed)",
        _document_hook(_effort_with_budget),
    )


#: Every mutation, in the contract's rule order within exchange and document rules.
MUTATIONS: Final[tuple[Mutation, ...]] = tuple(_mutations())
_BY_NAME: Final = {mutation.name: mutation for mutation in MUTATIONS}


def mutation(name: str) -> Mutation:
    """The mutation of that name; raises KeyError naming the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no mutation {name!r}; known: {', '.join(_BY_NAME)}") from None
