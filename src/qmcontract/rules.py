"""The rule ids of the contract (``shared/contract.md``), verbatim, and the field lists they speak of.

Every part of the toolkit reports these ids: the validator, the invalid-document strategies,
the mock's self-check and the conformance suite. An id never changes meaning once released, so
add new ones rather than repurposing old ones.
"""

from __future__ import annotations

from typing import Final

DOCUMENT_RULES: Final[dict[str, str]] = {
    "schema": "the document matches the response schema in openapi.yaml",
    "llm-count": "1 to 128 LLMs",
    "llm-name": "each LLM name is the hash of its canonical JSON",
    "model-name": "the top-level name is the hash of the model weight JSON and the sorted LLM names",
    "order-index": "models is sorted ascending by name and models[i].index == i",
    "weight-match": "every LLM weight has the model weight's type",
    "weight-values": "static weight > 0; training table 0 < min <= base <= max; model top >= 1",
    "training-table-presence": "training-table fields present exactly when the weight is training_table",
    "training-table-name": "LLM and model training-table names follow the recipe",
    "training-table-index": "training_table_index is the position among sorted distinct table names",
    "llm-params": "cross-field rules on logit_bias, reasoning, fallback models, stop and provider lists",
    "metadata-presence": "the nine metadata fields are all present with metadata=true, else all absent",
    "metadata-values": "metadata values have their types and are non-negative",
}

EXCHANGE_RULES: Final[dict[str, str]] = {
    "slug-echo": "a 200 response's name equals the requested slug",
    "not-found": "an unknown slug gives 404 with an error body",
    "auth-required": "metadata=true&me=true without authorization gives 401 with an error body",
    "bad-request": "malformed parameters give 400 with an error body",
    "ignored-params": "with metadata absent or false, me, from and to change nothing",
    "error-body": "every 4xx/5xx body is JSON {code, message} and code equals the HTTP status",
    "content-type": "every JSON body is sent as application/json",
    "stable": "the same request twice gives the same document (metadata counters aside)",
    "metadata-window": "a wider window never lowers a figure; me=true never exceeds all users",
    "no-server-error": "no request, however malformed, gets a 5xx",
}

#: The exchange rules of the API family around the endpoint (contract: "The API family").
FAMILY_RULES: Final[dict[str, str]] = {
    "validate-echo": "POST of a served document (computed fields removed) returns that document",
    "llm-lookup": "every LLM entry is answered by GET /query_llms/{name}, equal to it without indexes",
    "list-names": "the list holds well-formed, unique, retrievable names; count matches /query_models/count",
    "list-sort": "a sorted list follows the figures each model reports for the same window and me",
    "metadata-global": "global totals are non-negative and at least the sums over the served models",
}

ALL_RULES: Final[dict[str, str]] = {**DOCUMENT_RULES, **EXCHANGE_RULES, **FAMILY_RULES}

#: The rules a single LLM entry can break (``POST /query_llms``, ``GET /query_llms/{name}``).
LLM_RULES: Final[tuple[str, ...]] = (
    "schema",
    "llm-name",
    "llm-params",
    "training-table-presence",
    "training-table-name",
)

METADATA_FIELDS: Final[tuple[str, ...]] = (
    "user_id",
    "created",
    "requests",
    "chat_completion_tokens",
    "chat_prompt_tokens",
    "chat_cost",
    "embedding_completion_tokens",
    "embedding_prompt_tokens",
    "embedding_cost",
)
#: The metadata fields that count usage: they may change between two identical requests.
COUNTERS: Final[tuple[str, ...]] = METADATA_FIELDS[2:]

#: The eleven fields of ``GET /metadata``.
GLOBAL_METADATA_FIELDS: Final[tuple[str, ...]] = (
    "query_requests",
    "query_completion_tokens",
    "query_prompt_tokens",
    "query_cost",
    "chat_requests",
    "chat_completion_tokens",
    "chat_prompt_tokens",
    "chat_cost",
    "embedding_completion_tokens",
    "embedding_prompt_tokens",
    "embedding_cost",
)
