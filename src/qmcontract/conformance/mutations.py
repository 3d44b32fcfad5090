"""Deliberately broken variants of the engine, each breaking exactly one rule (test-only).

A :class:`Mutation` builds an :class:`~qmcontract.engine.Engine` response hook,
``(request, response) -> response``, for a catalogue. Nothing enables a mutation by default: they
exist to show that the conformance suite catches each broken rule under its id
(``tests/test_mutations.py``, ``benchmarks/conformance.py``). There is a variant for every rule a
server can break alone, and one per boundary class of the contract's table (a refused leap second,
a crash on a 10-digit ``count``, ...). A document rule that cannot break without breaking a name
too (``llm-count``, ``weight-match``, ``weight-values``) has no variant: a server can only break it
together with ``llm-name`` or ``slug-echo``.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

from qmcontract.catalog import Catalog
from qmcontract.engine import Engine, ResponseHook
from qmcontract.names import hash_name
from qmcontract.params import BadParameter, parse_instant
from qmcontract.routes import MODELS_PATH, route_of
from qmcontract.rules import COUNTERS
from qmcontract.wire import Request, Response, encode_json, error_response, json_response

HookFactory = Callable[[Catalog], ResponseHook]
Change = Callable[[Request, Response], Response | None]


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


# --- reading a request ---------------------------------------------------------------------------------


def _kind(request: Request) -> str | None:
    return route_of(request.path).kind(request.method)


def _params(request: Request) -> list[tuple[str, str]]:
    return parse_qsl(request.query, keep_blank_values=True)


def _value(request: Request, key: str) -> str | None:
    return next((value for name, value in _params(request) if name == key and value), None)


def _without(request: Request, *keys: str) -> Request:
    return replace(request, query=urlencode([(k, v) for k, v in _params(request) if k not in keys]))


def _with(request: Request, key: str, value: str) -> Request:
    return replace(
        request, query=urlencode([*((k, v) for k, v in _params(request) if k != key), (key, value)])
    )


# --- hook factories -----------------------------------------------------------------------------------


def _changed(change: Change) -> HookFactory:
    """A hook that replaces some answers (``change`` returns None to keep the engine's)."""

    def factory(_catalog: Catalog) -> ResponseHook:
        def hook(request: Request, response: Response) -> Response:
            changed = change(request, response)
            return response if changed is None else changed

        return hook

    return factory


def _answered_as(when: Callable[[Request, Response], Request | None]) -> HookFactory:
    """A hook that answers some requests as the engine answers another request."""

    def factory(catalog: Catalog) -> ResponseHook:
        reference = Engine(catalog)

        def hook(request: Request, response: Response) -> Response:
            other = when(request, response)
            return reference.handle(other) if other is not None else response

        return hook

    return factory


def _documents(kind: str, change: Callable[[dict[str, Any], Request], bool]) -> HookFactory:
    """A hook that edits 200 JSON answers of one route (``change`` edits in place, True if it did)."""

    def edit(request: Request, response: Response) -> Response | None:
        if response.status != 200 or _kind(request) != kind or request.method != "GET":
            return None
        document = json.loads(response.body)
        return replace(response, body=encode_json(document)) if change(document, request) else None

    return _changed(edit)


# --- exchange rules -----------------------------------------------------------------------------------


def _other_model(catalog: Catalog) -> ResponseHook:
    reference, names = Engine(catalog), catalog.names()

    def hook(request: Request, response: Response) -> Response:
        name = route_of(request.path).name
        if response.status != 200 or _kind(request) != "model" or name not in names:
            return response
        other = names[(names.index(name) + 1) % len(names)]
        return reference.handle(replace(request, path=f"{MODELS_PATH}/{other}"))

    return hook


def _unknown_is_bad(request: Request, response: Response) -> Response | None:
    if response.status == 404 and _kind(request) in ("model", "llm"):
        return error_response(400, "invalid name")
    return None


def _me_served(request: Request, response: Response) -> Request | None:
    return _without(request, "me") if response.status == 401 and _kind(request) == "model" else None


def _list_me_served(request: Request, response: Response) -> Request | None:
    return _without(request, "me") if response.status == 401 and _kind(request) == "model-list" else None


def _refused(pattern: str, *keys: str) -> Change:
    """400 for a request whose ``keys`` values match ``pattern`` (a valid value wrongly refused)."""
    compiled = re.compile(pattern)

    def change(request: Request, response: Response) -> Response | None:
        if response.status == 200 and any(compiled.search(_value(request, key) or "\x00") for key in keys):
            return error_response(400, "refused")
        return None

    return change


def _crashes(pattern: str, *keys: str) -> Change:
    """500 for a request whose ``keys`` values match ``pattern`` (a server that crashes on them)."""
    compiled = re.compile(pattern)

    def change(request: Request, _response: Response) -> Response | None:
        if any(compiled.search(_value(request, key) or "\x00") for key in keys):
            return error_response(500, "Internal Server Error")
        return None

    return change


def _accepted_as(key: str, pattern: str, replacement: str) -> Callable[[Request, Response], Request | None]:
    """Read a malformed ``key`` value matching ``pattern`` as ``replacement`` (a wrong acceptance)."""
    compiled = re.compile(pattern)

    def when(request: Request, response: Response) -> Request | None:
        value = _value(request, key)
        if response.status == 400 and value is not None and compiled.fullmatch(value):
            return _with(request, key, replacement)
        return None

    return when


def _from_after_to(request: Request, response: Response) -> Request | None:
    if response.status != 400 or _kind(request) != "model":
        return None
    try:
        start, end = (parse_instant(_value(request, key), key) for key in ("from", "to"))
    except BadParameter:
        return None
    return _without(request, "from", "to") if start and end and start > end else None


def _repeated_accepted(request: Request, response: Response) -> Request | None:
    values = [value for key, value in _params(request) if key == "metadata" and value]
    if response.status == 400 and len(values) > 1 and set(values) <= {"true", "false"}:
        return _with(request, "metadata", values[0])
    return None


def _ignored_from_checked(request: Request, _response: Response) -> Response | None:
    value = _value(request, "from")
    if (
        _kind(request) == "model"
        and _value(request, "metadata") != "true"
        and value
        and not value[:1].isdigit()
    ):
        return error_response(400, f"`from` is malformed: {value[:40]}")
    return None


def _error_without_code(_request: Request, response: Response) -> Response | None:
    if response.status < 400:
        return None
    return replace(response, body=encode_json({"message": json.loads(response.body).get("message")}))


def _error_code_as_text(_request: Request, response: Response) -> Response | None:
    if response.status < 400:
        return None
    return replace(response, body=encode_json({**json.loads(response.body), "code": str(response.status)}))


def _text_plain(request: Request, response: Response) -> Response | None:
    if response.status != 200 or _kind(request) != "model":
        return None
    return replace(response, headers=(("content-type", "text/plain; charset=utf-8"),))


def _unstable_created(_catalog: Catalog) -> ResponseHook:
    calls = itertools.count()

    def hook(request: Request, response: Response) -> Response:
        if response.status != 200 or _kind(request) != "model" or _value(request, "metadata") != "true":
            return response
        document = json.loads(response.body)
        document["created"] = f"2025-10-03T00:00:{next(calls) % 60:02d}Z"
        return json_response(200, encode_json(document))

    return hook


def _scaled(document: dict[str, Any], factor: int, extra: int = 0) -> None:
    for key in COUNTERS:
        value = document.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            document[key] = value * factor + extra


def _narrow_inflated(document: dict[str, Any], request: Request) -> bool:
    if _value(request, "metadata") != "true" or not (_value(request, "from") or _value(request, "to")):
        return False
    _scaled(document, 2)
    return True


def _offset_misread(document: dict[str, Any], request: Request) -> bool:
    given = [_value(request, key) or "" for key in ("from", "to")]
    if _value(request, "metadata") != "true" or not any("+" in value for value in given):
        return False
    _scaled(document, 3)
    return True


def _me_inflated(document: dict[str, Any], request: Request) -> bool:
    if _value(request, "metadata") != "true" or _value(request, "me") != "true":
        return False
    _scaled(document, 1, 1)
    return True


def _server_error_on_bad_date(request: Request, response: Response) -> Response | None:
    if (
        response.status == 400
        and _value(request, "metadata") == "true"
        and (_value(request, "from") or _value(request, "to"))
    ):
        return error_response(500, "Internal Server Error")
    return None


# --- the API family ------------------------------------------------------------------------------------


def _post_echoes_another(catalog: Catalog) -> ResponseHook:
    reference, names = Engine(catalog), catalog.names()

    def hook(request: Request, response: Response) -> Response:
        if _kind(request) != "model-validate" or response.status != 200 or len(names) < 2:
            return response
        name = json.loads(response.body)["name"]
        other = catalog.get(names[(names.index(name) + 1) % len(names)] if name in names else names[0])
        if other is None:
            return response
        definition = {"weight": other["weight"], "models": [_bare(llm) for llm in other["models"]]}
        return reference.handle(replace(request, body=encode_json(definition)))

    return hook


def _bare(llm: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in llm.items()
        if key not in ("name", "index", "training_table_name", "training_table_index")
    }


def _llm_effort_added(document: dict[str, Any], _request: Request) -> bool:
    if "reasoning" in document:
        return False
    document["reasoning"] = {"effort": "low"}
    return True


def _short_names(document: dict[str, Any], _request: Request) -> bool:
    document["data"] = [name[:21] for name in document["data"]]
    return True


def _count_plus_one(document: dict[str, Any], _request: Request) -> bool:
    document["count"] += 1
    return True


def _sort_ignored(request: Request, response: Response) -> Request | None:
    if _kind(request) == "model-list" and response.status == 200 and _value(request, "sort"):
        return _without(request, "sort")
    return None


def _me_lists_everything(request: Request, response: Response) -> Request | None:
    if _kind(request) == "model-list" and response.status == 200 and _value(request, "me") == "true":
        return _without(request, "me")
    return None


def _global_below_sums(document: dict[str, Any], _request: Request) -> bool:
    document["query_requests"] = 1
    return True


# --- document rules ---------------------------------------------------------------------------------------


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
    if _value(request, "metadata") != "true":
        return False
    del document["embedding_cost"]
    return True


def _empty_user_id(document: dict[str, Any], request: Request) -> bool:
    if _value(request, "metadata") != "true":
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


#: A leap second, with or without a fraction (``...:60Z``).
_LEAP: Final = r"T\d\d:\d\d:60"


def _mutations() -> Iterator[Mutation]:
    m = Mutation
    yield m("echo-other-model", "slug-echo", "a served name gets another model", _other_model)
    yield m("unknown-name-400", "not-found", "an unknown name gets 400", _changed(_unknown_is_bad))
    yield m(
        "me-without-token", "auth-required", "me=true without a token is served", _answered_as(_me_served)
    )
    yield m(
        "list-me-without-token",
        "auth-required",
        "the list serves me=true without a token",
        _answered_as(_list_me_served),
    )
    yield m(
        "from-after-to-accepted", "bad-request", "from later than to is served", _answered_as(_from_after_to)
    )
    yield m(
        "bad-metadata-as-false",
        "bad-request",
        "metadata=yes reads as false",
        _answered_as(_accepted_as("metadata", r"yes|1|True|TRUE", "false")),
    )
    yield m(
        "boolean-case-accepted",
        "bad-request",
        "me=True reads as true",
        _answered_as(_accepted_as("me", r"True|TRUE", "true")),
    )
    yield m(
        "repeated-accepted", "bad-request", "metadata given twice is served", _answered_as(_repeated_accepted)
    )
    yield m(
        "leap-second-refused", "bad-request", "second 60 gets 400", _changed(_refused(_LEAP, "from", "to"))
    )
    yield m(
        "long-fraction-refused",
        "bad-request",
        "fractions beyond 6 digits get 400",
        _changed(_refused(r"\.\d{7,}", "from", "to")),
    )
    yield m(
        "lowercase-t-refused",
        "bad-request",
        "a lowercase t or z gets 400",
        _changed(_refused(r"\dt\d|z$", "from", "to")),
    )
    yield m("zero-width-refused", "bad-request", "from equal to to gets 400", _changed(_zero_width_refused))
    yield m(
        "count-unicode-accepted",
        "bad-request",
        "count=² reads as 2",
        _answered_as(_accepted_as("count", r"[\u00b2\u00b3\u00b9]|[\u0660-\u0669]+", "2")),
    )
    yield m(
        "count-1001-accepted",
        "bad-request",
        "count above 1000 is served",
        _answered_as(_accepted_as("count", r"0*(100[1-9]|10[1-9]\d|1[1-9]\d\d|[2-9]\d{3})", "1000")),
    )
    yield m(
        "offset-long-refused",
        "bad-request",
        "an offset of 10+ digits gets 400",
        _changed(_refused(r"^\d{10,}$", "offset")),
    )
    yield m(
        "sort-any-case",
        "bad-request",
        "sort=COST is served",
        _answered_as(_accepted_as("sort", r"[A-Za-z_]*[A-Z][A-Za-z_]*", "cost")),
    )
    yield m(
        "leap-second-crash", "no-server-error", "second 60 crashes", _changed(_crashes(_LEAP, "from", "to"))
    )
    yield m(
        "year-one-offset-crash",
        "no-server-error",
        "year 0001 with an offset crashes",
        _changed(_crashes(r"^0001-.*[+-]\d\d:\d\d$", "from", "to")),
    )
    yield m(
        "count-digits-crash",
        "no-server-error",
        "a 10-digit count or offset crashes",
        _changed(_crashes(r"^\d{10,}$", "count", "offset")),
    )
    yield m(
        "long-token-crash", "no-server-error", "a 4 KiB authorization crashes", _changed(_long_token_crash)
    )
    yield m(
        "500-on-bad-date",
        "no-server-error",
        "a malformed from/to with metadata=true crashes",
        _changed(_server_error_on_bad_date),
    )
    yield m(
        "ignored-from-checked",
        "ignored-params",
        "a malformed from gets 400 without metadata=true",
        _changed(_ignored_from_checked),
    )
    yield m("error-without-code", "error-body", "error bodies lack code", _changed(_error_without_code))
    yield m(
        "error-code-as-text", "error-body", 'the error code is "404", a string', _changed(_error_code_as_text)
    )
    yield m("json-as-text", "content-type", "documents sent as text/plain", _changed(_text_plain))
    yield m("unstable-created", "stable", "created changes on every call", _unstable_created)
    yield m(
        "narrow-window-inflated",
        "metadata-window",
        "a bounded window reports twice the figures",
        _documents("model", _narrow_inflated),
    )
    yield m(
        "offset-misread",
        "metadata-window",
        "a window written with +hh:mm reports other figures",
        _documents("model", _offset_misread),
    )
    yield m(
        "me-above-all-users",
        "metadata-window",
        "me=true reports one more than all users",
        _documents("model", _me_inflated),
    )
    yield m(
        "post-echoes-another",
        "validate-echo",
        "POST /query_models answers another model",
        _post_echoes_another,
    )
    yield m(
        "llm-effort-added",
        "llm-lookup",
        "GET /query_llms adds an unhashed reasoning.effort",
        _documents("llm", _llm_effort_added),
    )
    yield m(
        "list-short-names",
        "list-names",
        "the list holds 21-character names",
        _documents("model-list", _short_names),
    )
    yield m(
        "count-plus-one",
        "list-names",
        "/query_models/count says one more",
        _documents("model-count", _count_plus_one),
    )
    yield m("sort-ignored", "list-sort", "the list ignores sort", _answered_as(_sort_ignored))
    yield m(
        "me-lists-everything", "list-sort", "me=true lists every model", _answered_as(_me_lists_everything)
    )
    yield m(
        "global-below-sums",
        "metadata-global",
        "query_requests is below the models' sum",
        _documents("metadata", _global_below_sums),
    )
    yield m(
        "llm-weight-changed",
        "llm-name",
        "an LLM weight changes, its name does not",
        _documents("model", _weight_changed),
    )
    yield m(
        "model-top-changed",
        "model-name",
        "top changes, the model name does not",
        _documents("model", _top_changed),
    )
    yield m("index-swapped", "order-index", "models 0 and 1 swap index", _documents("model", _index_swapped))
    yield m(
        "static-table-index",
        "training-table-presence",
        "static LLMs carry training_table_index",
        _documents("model", _static_table_index),
    )
    yield m(
        "model-table-renamed",
        "training-table-name",
        "the model's training_table_name is wrong",
        _documents("model", _model_table_renamed),
    )
    yield m(
        "table-index-reversed",
        "training-table-index",
        "training_table_index counts from the end",
        _documents("model", _table_index_reversed),
    )
    yield m(
        "metadata-field-dropped",
        "metadata-presence",
        "embedding_cost missing with metadata=true",
        _documents("model", _metadata_field_dropped),
    )
    yield m("empty-user-id", "metadata-values", "user_id is empty", _documents("model", _empty_user_id))
    yield m(
        "unknown-field", "schema", "documents carry an unknown field", _documents("model", _unknown_field)
    )
    yield m(
        "effort-with-budget",
        "llm-params",
        "reasoning.effort added beside max_tokens (not hashed)",
        _documents("model", _effort_with_budget),
    )


def _zero_width_refused(request: Request, response: Response) -> Response | None:
    start, end = _value(request, "from"), _value(request, "to")
    if response.status == 200 and start and start == end:
        return error_response(400, "`from` must be before `to`")
    return None


def _long_token_crash(request: Request, _response: Response) -> Response | None:
    token = request.authorization
    return error_response(500, "token too long") if token is not None and len(token) >= 4096 else None


#: Every mutation, exchange rules first, then the family's, then the document rules.
MUTATIONS: Final[tuple[Mutation, ...]] = tuple(_mutations())
_BY_NAME: Final = {mutation.name: mutation for mutation in MUTATIONS}


def mutation(name: str) -> Mutation:
    """The mutation of that name; raises KeyError naming the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no mutation {name!r}; known: {', '.join(_BY_NAME)}") from None
