"""Deterministic usage statistics for metadata=true responses.

Each model gets a creation time and per-day figures seeded by its name, from its creation
day to today. A window sums the days it touches, so a wider window never reports less.
Costs are summed in integer micro-dollars and divided once, which keeps that true under
floating point. ``me=true`` reports a share derived from a hash of the token (never the
token itself), rounded down, so it never exceeds the all-users figure.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Final

import xxhash

from qmcontract.rules import METADATA_FIELDS

FIRST_CREATED: Final = date(2025, 10, 3)  # the Query Model API's first day
CREATION_SPREAD_DAYS: Final = 40
MICRO: Final = 1_000_000
_COUNTERS: Final = METADATA_FIELDS[2:]  # the seven figures after user_id and created
_COST_FIELDS: Final = frozenset({"chat_cost", "embedding_cost"})
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(timezone.utc)


def _seed(*parts: str) -> int:
    return int(xxhash.xxh3_64_intdigest("\x00".join(parts).encode("utf-8")))


@dataclass(frozen=True)
class Window:
    """Statistics window; None means unbounded on that side."""

    start: datetime | None = None
    end: datetime | None = None


def created_at(name: str) -> datetime:
    """Creation time of a model, spread over the API's first weeks by its name."""
    seed = _seed("created", name)
    day = FIRST_CREATED + timedelta(days=seed % CREATION_SPREAD_DAYS)
    return datetime.combine(day, time(), timezone.utc) + timedelta(seconds=(seed >> 8) % 86_400)


def user_id_of(name: str) -> str:
    """The creator of a model (stable per name)."""
    return f"user_{_seed('user', name) % 10**10:010d}"


def _day_figures(name: str, day: date, embeddings: bool) -> tuple[int, ...]:
    seed = _seed("day", name, day.isoformat())
    requests = seed % 40 if seed % 7 else 0
    prompt, completion = requests * (200 + (seed >> 8) % 900), requests * (20 + (seed >> 20) % 300)
    chat_cost = prompt * 2 + completion * 8  # micro-dollars
    emb_prompt = requests * (100 + (seed >> 32) % 400) if embeddings else 0
    return requests, completion, prompt, chat_cost, 0, emb_prompt, emb_prompt // 50


@functools.lru_cache(maxsize=4096)
def _prefix_sums(name: str, embeddings: bool, first: date, last: date) -> tuple[tuple[int, ...], ...]:
    """Running totals per day from ``first`` to ``last``; index 0 is all zeros."""
    totals = [0] * len(_COUNTERS)
    rows = [tuple(totals)]
    day = first
    while day <= last:
        totals = [a + b for a, b in zip(totals, _day_figures(name, day, embeddings), strict=True)]
        rows.append(tuple(totals))
        day += timedelta(days=1)
    return tuple(rows)


def _day_range(window: Window, first: date, last: date) -> tuple[int, int]:
    """Offsets [lo, hi) of the days from ``first`` that the window touches, clipped."""
    lo = first if window.start is None else max(first, window.start.date())
    hi = last if window.end is None else min(last, window.end.date())
    if hi < lo:
        return 0, 0
    return (lo - first).days, (hi - first).days + 1


def _share(caller: int, name: str) -> tuple[int, int]:
    """The caller's share of a model's use, as a fraction p/q with p <= q."""
    return _seed("share", str(caller), name) % 101, 100


def metadata_fields(
    name: str, *, embeddings: bool, window: Window, now: datetime, token: str | None
) -> dict[str, Any]:
    """The nine metadata fields for one model, window and caller (token None = all users).

    Only a hash of the token is used, and kept: the figures are cached per caller hash.
    """
    caller = None if token is None else _seed("caller", token)
    today = now.astimezone(timezone.utc).date()
    return dict(_cached_fields(name, embeddings, window, today, caller))


@functools.lru_cache(maxsize=8192)
def _cached_fields(
    name: str, embeddings: bool, window: Window, today: date, caller: int | None
) -> tuple[tuple[str, Any], ...]:
    created = created_at(name)
    first, last = created.date(), max(created.date(), today)
    sums = _prefix_sums(name, embeddings, first, last)
    lo, hi = _day_range(window, first, last)
    totals = [end - start for start, end in zip(sums[lo], sums[hi], strict=True)] if hi else [0] * 7
    if caller is not None:
        numerator, denominator = _share(caller, name)
        totals = [value * numerator // denominator for value in totals]
    figures = dict(zip(_COUNTERS, totals, strict=True))
    fields: dict[str, Any] = {
        "user_id": user_id_of(name),
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    for key in METADATA_FIELDS[2:]:
        value = figures[key]
        fields[key] = value / MICRO if key in _COST_FIELDS else value
    return tuple(fields.items())
