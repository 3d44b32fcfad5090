"""What makes a fixture portable, as the tests of the strategies and of ``generate`` check it:
``logit_bias`` keys in ascending numeric order (the order a JavaScript client parses them into)."""

from __future__ import annotations

from typing import Any


def bias_keys(value: Any) -> list[list[str]]:
    """The key lists of every ``logit_bias`` object in a definition, document or entry."""
    if isinstance(value, dict):
        found = [list(value["logit_bias"])] if isinstance(value.get("logit_bias"), dict) else []
        return found + [keys for item in value.values() for keys in bias_keys(item)]
    if isinstance(value, list):
        return [keys for item in value for keys in bias_keys(item)]
    return []


def ascending(keys: list[str]) -> bool:
    return keys == sorted(keys, key=int)
