"""Repo-wide test configuration: hypothesis profiles.

``ci`` (set when the CI variable is present) is derandomised and keeps no example
database, so runs are independent; ``dev`` keeps hypothesis's defaults otherwise.
"""

import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each schemathesis operation its own node id, and refuse duplicate ids.

    pytest 9.2 builds a node id from ``originalname``, which schemathesis 4 sets to the test
    function's name alone, so every operation of ``schema.parametrize()`` shares one id and
    pytest-xdist silently runs only one of them.
    """
    for item in items:
        label = getattr(item, "operation_label", None)
        if isinstance(item, pytest.Function) and label and not item.nodeid.endswith("]"):
            item._id = item.parent.id.child(item.originalname).with_params(label)  # type: ignore[union-attr]
    counts = Counter(item.nodeid for item in items)
    duplicates = sorted(nodeid for nodeid, count in counts.items() if count > 1)
    if duplicates:
        raise pytest.UsageError(f"tests share a node id, so pytest-xdist would run one of each: {duplicates}")
