"""Deterministic usage statistics: per Query Model, per Query LLM, and the global totals.

Each object gets a creation time and per-day figures seeded by its kind and name, from its
creation day to today. A window sums the days it touches, so a wider window never reports less.
Costs are summed in integer micro-dollars and divided once, which keeps that true under floating
point. ``me=true`` reports a share derived from a hash of the token (never the token itself),
rounded down, so it never exceeds the all-users figure; a share of 0 means the caller never used
the object. The global totals are the served models' all-time figures plus the rest of the API's
use, so each is at least the sum over the served models.
"""

from __future__ import annotations

import functools
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Final, Literal

import xxhash

from qmcontract.params import Window
from qmcontract.rules import COUNTERS, GLOBAL_METADATA_FIELDS

Kind = Literal["model", "llm"]
FIRST_CREATED: Final = date(2025, 10, 3)  # the Query Model API's first day
CREATION_SPREAD_DAYS: Final = 40
MICRO: Final = 1_000_000
_COST_FIELDS: Final = frozenset({"chat_cost", "embedding_cost"})
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(timezone.utc)


def _seed(*parts: str) -> int:
    return int(xxhash.xxh3_64_intdigest("\x00".join(parts).encode("utf-8")))


def caller_of(token: str) -> int:
    """What the figures keep of a token: a hash (the token itself is never stored)."""
    return _seed("caller", token)


def created_at(kind: Kind, name: str) -> datetime:
    """Creation time of an object, spread over the API's first weeks by its name."""
    seed = _seed("created", kind, name)
    day = FIRST_CREATED + timedelta(days=seed % CREATION_SPREAD_DAYS)
    return datetime.combine(day, time(), timezone.utc) + timedelta(seconds=(seed >> 8) % 86_400)


def user_id_of(kind: Kind, name: str) -> str:
    """The creator of an object (stable per name)."""
    return f"user_{_seed('user', kind, name) % 10**10:010d}"


def _day_figures(kind: Kind, name: str, day: date, embeddings: bool) -> tuple[int, ...]:
    """The seven counters of one day, costs in micro-dollars, in the order of ``COUNTERS``."""
    seed = _seed("day", kind, name, day.isoformat())
    requests = seed % 40 if seed % 7 else 0
    prompt, completion = requests * (200 + (seed >> 8) % 900), requests * (20 + (seed >> 20) % 300)
    chat_cost = prompt * 2 + completion * 8
    emb_prompt = requests * (100 + (seed >> 32) % 400) if embeddings else 0
    return requests, completion, prompt, chat_cost, 0, emb_prompt, emb_prompt // 50


@functools.lru_cache(maxsize=1024)
def _running_totals(
    kind: Kind, name: str, embeddings: bool, first: date, last: date
) -> tuple[array[int], ...]:
    """Per counter, running totals per day from ``first`` to ``last``; index 0 is zero."""
    columns = tuple(array("q", [0]) for _ in COUNTERS)
    day = first
    while day <= last:
        for column, figure in zip(columns, _day_figures(kind, name, day, embeddings), strict=True):
            column.append(column[-1] + figure)
        day += timedelta(days=1)
    return columns


def _day_range(window: Window, first: date, last: date) -> tuple[int, int]:
    """Offsets [lo, hi) of the days from ``first`` that the window touches, clipped."""
    lo = first if window.start is None else max(first, window.start.date())
    hi = last if window.end is None else min(last, window.end.date())
    if hi < lo:
        return 0, 0
    return (lo - first).days, (hi - first).days + 1


@dataclass(frozen=True)
class Subject:
    """What the figures are about: a model or an LLM, by name."""

    kind: Kind
    name: str
    embeddings: bool


def totals(subject: Subject, window: Window, today: date, caller: int | None) -> tuple[int, ...]:
    """The seven counters over a window (costs in micro-dollars), for all users or one caller."""
    first = created_at(subject.kind, subject.name).date()
    last = max(first, today)
    columns = _running_totals(subject.kind, subject.name, subject.embeddings, first, last)
    lo, hi = _day_range(window, first, last)
    figures = [column[hi] - column[lo] for column in columns] if hi else [0] * len(COUNTERS)
    if caller is not None:
        share = _seed("share", str(caller), subject.kind, subject.name) % 101
        figures = [value * share // 100 for value in figures]
    return tuple(figures)


@functools.lru_cache(maxsize=8192)
def _fields(subject: Subject, window: Window, today: date, caller: int | None) -> tuple[tuple[str, Any], ...]:
    created = created_at(subject.kind, subject.name)
    fields: dict[str, Any] = {
        "user_id": user_id_of(subject.kind, subject.name),
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    for key, value in zip(COUNTERS, totals(subject, window, today, caller), strict=True):
        fields[key] = value / MICRO if key in _COST_FIELDS else value
    return tuple(fields.items())


def usage_fields(subject: Subject, window: Window, today: date, caller: int | None) -> dict[str, Any]:
    """The nine metadata fields of one object, window and caller (None: all users)."""
    return dict(_fields(subject, window, today, caller))


#: Per day, the API's use beyond the served models: (requests, tokens, micro-dollars) scales.
_REST_OF_API: Final = (5_000, 900_000, 2_000_000)


def global_totals(models: Iterable[tuple[Subject, int]], today: date) -> dict[str, Any]:
    """The eleven global totals for served ``(model, llm_count)`` pairs, stable within a day."""
    summed = [0] * len(COUNTERS)
    chat_requests = 0
    for subject, llm_count in models:
        figures = totals(subject, Window(), today, None)
        summed = [a + b for a, b in zip(summed, figures, strict=True)]
        chat_requests += figures[0] * max(llm_count, 1)
    requests, completion, prompt, chat_cost, emb_completion, emb_prompt, emb_cost = summed
    seed = _seed("global", today.isoformat())
    rest_requests, rest_tokens, rest_cost = (
        1 + (seed >> shift) % scale for shift, scale in zip((0, 20, 40), _REST_OF_API, strict=True)
    )
    chat = (completion + rest_tokens // 4, prompt + rest_tokens, chat_cost + rest_cost)
    embedding = (emb_completion, emb_prompt + rest_tokens // 8, emb_cost + rest_cost // 16)
    values = {
        "query_requests": requests + rest_requests,
        "query_completion_tokens": chat[0] + embedding[0],
        "query_prompt_tokens": chat[1] + embedding[1],
        "query_cost": (chat[2] + embedding[2]) / MICRO,
        "chat_requests": chat_requests + rest_requests * 3,
        "chat_completion_tokens": chat[0],
        "chat_prompt_tokens": chat[1],
        "chat_cost": chat[2] / MICRO,
        "embedding_completion_tokens": embedding[0],
        "embedding_prompt_tokens": embedding[1],
        "embedding_cost": embedding[2] / MICRO,
    }
    return {key: values[key] for key in GLOBAL_METADATA_FIELDS}
