"""pytest plugin (entry point ``qmcontract``): fixtures that mock the Query Model API offline.

Fixtures: ``query_model_catalog`` (a fresh copy of the session's catalogue, plus the
definitions of a ``query_models`` marker), ``query_models_mock`` (the respx mock, active for
the test) and ``query_model`` (one valid document). Options: ``--qm-catalog DIR`` (the
catalogue to serve instead of the shipped one) and ``--qm-base-url URL``. Everything heavy is
imported inside fixtures, so loading the plugin costs nothing to suites that do not use it.
"""

# ruff: noqa: PLC0415  (imports inside fixtures keep the plugin cheap to load)
from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from qmcontract.catalog import Catalog
    from qmcontract.respx_mock import QueryModelsMock

MARKER = "query_models"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("qmcontract", "Query Model API mock (qmcontract)")
    group.addoption(
        "--qm-catalog",
        metavar="DIR",
        default=None,
        help="directory of Query Model definitions to serve (default: the catalogue shipped with qmcontract)",
    )
    # The conformance suite's plugin, when loaded first, owns the same option (same default: None).
    with contextlib.suppress(ValueError):
        group.addoption(
            "--qm-base-url",
            metavar="URL",
            default=None,
            help="API base URL to mock (default: $OBJECTIVEAI_API_BASE or https://api.objective-ai.io)",
        )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*definitions): add Query Model definitions (dicts, or paths to JSON/YAML files "
        "relative to the test file) to the query_model_catalog and query_models_mock of this test",
    )
    directory = config.getoption("qm_catalog")
    if directory is not None and not Path(directory).is_dir():
        raise pytest.UsageError(f"--qm-catalog: {directory}: not a directory of Query Model definitions")


@pytest.fixture(scope="session")
def _qm_session_catalog(pytestconfig: pytest.Config) -> Catalog:
    """The catalogue, built once per session; tests get copies."""
    from qmcontract.catalog import load_catalog

    return load_catalog(pytestconfig.getoption("qm_catalog"))


@pytest.fixture
def _qm_marker_documents(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """The documents built from every ``query_models`` marker on the test, closest marker first."""
    from qmcontract.catalog import Catalog
    from qmcontract.errors import QmContractError
    from qmcontract.inputs import load_json_or_yaml

    scratch, documents = Catalog(), []
    for marker in request.node.iter_markers(MARKER):
        for position, given in enumerate(marker.args, start=1):
            problem = None
            try:
                is_path = isinstance(given, (str, os.PathLike))
                definition = load_json_or_yaml(request.path.parent / given) if is_path else given
                documents.append(scratch.add(definition))
            except QmContractError as exc:
                problem = str(exc)
            if problem is not None:
                pytest.fail(f"@pytest.mark.{MARKER}: definition {position}: {problem}", pytrace=False)
    return documents


@pytest.fixture
def query_model_catalog(_qm_session_catalog: Catalog, _qm_marker_documents: list[dict[str, Any]]) -> Catalog:
    """A fresh catalogue for this test: the session's, plus the ``query_models`` marker's definitions."""
    catalog = _qm_session_catalog.copy()
    for document in _qm_marker_documents:
        catalog.add(document)
    return catalog


@pytest.fixture
def query_models_mock(query_model_catalog: Catalog, pytestconfig: pytest.Config) -> Iterator[QueryModelsMock]:
    """The Query Model routes mocked with respx for this test, served from ``query_model_catalog``."""
    from qmcontract.respx_mock import mock_query_models

    with mock_query_models(query_model_catalog, base_url=pytestconfig.getoption("qm_base_url")) as mock:
        yield mock


@pytest.fixture
def query_model(query_model_catalog: Catalog, _qm_marker_documents: list[dict[str, Any]]) -> dict[str, Any]:
    """A valid document (a copy): the marker's first definition, else the catalogue's first by name."""
    first = _qm_marker_documents[0] if _qm_marker_documents else next(iter(query_model_catalog), None)
    if first is None:
        pytest.fail("query_model: the Query Model catalogue is empty", pytrace=False)
    return copy.deepcopy(first)
