"""pytest plugin (entry point ``qmcontract``): ObjectiveAI's Query Model API, mocked offline for a test.

Fixtures:

- ``query_models_mock``: the respx mock of the whole API family (:mod:`qmcontract.respx_mock`),
  active for the test, served from ``query_model_catalog``;
- ``query_model``: one valid document (a copy); asking for it activates the mock as well, so a test
  that asks for nothing else is mocked too;
- ``query_model_catalog``: the test's own copy of the catalogue; plain data, it mocks nothing.

Marker: ``@pytest.mark.query_models(*definitions, assert_all_faults_used=True)`` adds definitions
(dicts, or JSON/YAML paths relative to the test file) for one test. On a test that uses none of the
fixtures above it is an error, since it would do nothing.

Options: ``--qm-catalog DIR`` (the catalogue to serve instead of the shipped one) and
``--qm-base-url URL`` (the API base to mock; default ``$OBJECTIVEAI_API_BASE`` or the production
API). Both are checked once, at start-up: a bad value stops the session with one line.

A fault scheduled with ``query_models_mock.fail_next(...)`` and never used fails the test, unless
the marker says ``assert_all_faults_used=False``. The check runs at the end of the test's call, and
only when the test passed, so it never hides the real failure.

Loading this module costs nothing to suites that do not use it: it imports pytest and the standard
library only; the rest is imported by the fixtures, and at start-up only when an option is given.
"""

# ruff: noqa: PLC0415  (imports inside hooks and fixtures keep the plugin cheap to load)
from __future__ import annotations

import copy
import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import pytest

if TYPE_CHECKING:
    from qmcontract.catalog import Catalog
    from qmcontract.replay import Replay
    from qmcontract.respx_mock import QueryModelsMock

MARKER: Final = "query_models"
FIXTURES: Final = ("query_models_mock", "query_model", "query_model_catalog")
MARKER_OPTIONS: Final = ("assert_all_faults_used",)
#: The catalogue of ``--qm-catalog`` and the recording of ``--qm-recording``, read once at start-up.
_CATALOG: Final = pytest.StashKey["Catalog"]()
_REPLAY: Final = pytest.StashKey["Replay"]()


@dataclass(frozen=True)
class MarkerOptions:
    """What the ``query_models`` markers of a test ask for (closest marker first)."""

    documents: tuple[dict[str, Any], ...] = ()
    assert_all_faults_used: bool = True


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("qmcontract", "Query Model API mock (qmcontract)")
    group.addoption(
        "--qm-catalog",
        metavar="DIR",
        default=None,
        help="directory of Query Model definitions to serve (default: the catalogue shipped with qmcontract)",
    )
    group.addoption(
        "--qm-recording",
        metavar="FILE",
        default=None,
        help="replay recorded traffic (qmcontract proxy --record JSON lines, HAR, VCR cassette): recorded "
        "requests get their recorded answers, others are answered from the recorded Query Models",
    )
    group.addoption(
        "--qm-base-url",
        metavar="URL",
        default=None,
        help="API base URL to mock (default: $OBJECTIVEAI_API_BASE or https://api.objective-ai.io)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*definitions, assert_all_faults_used=True): add Query Model definitions (dicts, or "
        "paths to JSON/YAML files relative to the test file) to the query_model_catalog and "
        "query_models_mock of this test",
    )
    _check_catalog_option(config)
    _check_recording_option(config)
    _check_base_url_option(config)


def _check_catalog_option(config: pytest.Config) -> None:
    """Build ``--qm-catalog`` once; any problem stops the session with one line."""
    directory = config.getoption("qm_catalog")
    if directory is None:
        return
    from qmcontract.catalog import load_catalog
    from qmcontract.errors import QmContractError

    try:
        config.stash[_CATALOG] = load_catalog(directory)
    except QmContractError as exc:
        raise _usage_error("--qm-catalog", exc) from None


def _usage_error(option: str, error: Exception) -> pytest.UsageError:
    """The session's one line for an option that cannot be used."""
    return pytest.UsageError(f"{option}: {'; '.join(str(error).splitlines())}")


def _check_recording_option(config: pytest.Config) -> None:
    """Read and judge ``--qm-recording`` once; a broken or unreadable one stops the session with one line."""
    path = config.getoption("qm_recording")
    if path is None:
        return
    if config.getoption("qm_catalog") is not None:
        raise pytest.UsageError("--qm-recording and --qm-catalog: a recording brings its own Query Models")
    from qmcontract.errors import QmContractError
    from qmcontract.replay import load_replay

    try:
        config.stash[_REPLAY] = load_replay(path)
    except QmContractError as exc:
        raise _usage_error("--qm-recording", exc) from None


def _check_base_url_option(config: pytest.Config) -> None:
    """``--qm-base-url`` must be an absolute http(s) URL; otherwise the session stops with one line."""
    base_url = config.getoption("qm_base_url")
    if base_url is None:
        return
    from qmcontract.respx_mock import check_base_url

    try:
        check_base_url(base_url)
    except ValueError as exc:
        raise pytest.UsageError(f"--qm-base-url: {exc}") from None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A ``query_models`` marker on a test that uses none of the fixtures is an error."""
    if item.get_closest_marker(MARKER) is None:
        return
    if not set(getattr(item, "fixturenames", ())) & set(FIXTURES):
        pytest.fail(
            f"@pytest.mark.{MARKER} on a test that uses none of the qmcontract fixtures "
            f"({', '.join(FIXTURES)}): it would do nothing",
            pytrace=False,
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Once the test has passed: every fault it scheduled on the mock was used, unless allowed."""
    result = yield
    mock: QueryModelsMock | None = getattr(item, "funcargs", {}).get("query_models_mock")
    problem = None
    if mock is not None and mock.assert_all_faults_used:
        try:
            mock.assert_faults_used()
        except AssertionError as exc:
            problem = str(exc)
    if problem is not None:
        pytest.fail(f"query_models_mock: {problem}", pytrace=False)
    return result


@pytest.fixture(scope="session")
def _qm_session_catalog(pytestconfig: pytest.Config) -> Catalog:
    """The catalogue, built once per session (at start-up for ``--qm-catalog``); tests get copies."""
    from qmcontract.catalog import load_catalog

    catalog = pytestconfig.stash.get(_CATALOG, None)
    replay: Replay | None = pytestconfig.stash.get(_REPLAY, None)
    if replay is not None:
        return replay.catalog
    return catalog if catalog is not None else load_catalog()


@pytest.fixture
def _qm_marker(request: pytest.FixtureRequest) -> MarkerOptions:
    """The test's ``query_models`` markers, read: their documents, built, and their options."""
    markers = list(request.node.iter_markers(MARKER))
    allowed = None
    for marker in markers:
        unknown = sorted(set(marker.kwargs) - set(MARKER_OPTIONS))
        if unknown:
            allowed_names = ", ".join(MARKER_OPTIONS)
            pytest.fail(
                _marker_message(f"unknown option {', '.join(unknown)}; allowed: {allowed_names}"),
                pytrace=False,
            )
        if allowed is None and "assert_all_faults_used" in marker.kwargs:
            allowed = bool(marker.kwargs["assert_all_faults_used"])
    documents = tuple(
        _marker_document(request, given, position)
        for marker in markers
        for position, given in enumerate(marker.args, start=1)
    )
    return MarkerOptions(documents, True if allowed is None else allowed)


def _marker_document(request: pytest.FixtureRequest, given: Any, position: int) -> dict[str, Any]:
    """The document one marker argument builds to; a one-line test error when it cannot."""
    from qmcontract.catalog import Catalog
    from qmcontract.errors import QmContractError
    from qmcontract.inputs import load_json_or_yaml

    try:
        is_path = isinstance(given, (str, os.PathLike))
        return Catalog().add(load_json_or_yaml(request.path.parent / given) if is_path else given)
    except QmContractError as exc:
        problem = str(exc)
    # Failing outside the except clause: no chained traceback in the report.
    pytest.fail(_marker_message(f"definition {position}: {problem}"), pytrace=False)


def _marker_message(problem: str) -> str:
    return f"@pytest.mark.{MARKER}: {problem}"


@pytest.fixture
def query_model_catalog(_qm_session_catalog: Catalog, _qm_marker: MarkerOptions) -> Catalog:
    """A fresh catalogue for this test: the session's, plus the ``query_models`` marker's definitions.

    Plain data: asking for it alone mocks nothing.
    """
    catalog = _qm_session_catalog.copy()
    for document in _qm_marker.documents:
        catalog.add(document)
    return catalog


@pytest.fixture
def query_models_mock(
    query_model_catalog: Catalog, _qm_marker: MarkerOptions, pytestconfig: pytest.Config
) -> Iterator[QueryModelsMock]:
    """The API family mocked with respx for this test, served from ``query_model_catalog``."""
    from qmcontract.respx_mock import mock_query_models

    problem = None
    try:
        mock = mock_query_models(
            query_model_catalog,
            base_url=pytestconfig.getoption("qm_base_url"),
            recording=pytestconfig.stash.get(_REPLAY, None),
            assert_all_faults_used=_qm_marker.assert_all_faults_used,
        )
    except ValueError as exc:  # only $OBJECTIVEAI_API_BASE can be wrong here: the option was checked
        problem = str(exc)
    if problem is not None:
        pytest.fail(f"query_models_mock: {problem}", pytrace=False)
    mock.start()
    try:
        yield mock
    finally:
        mock.stop(quiet=True)  # unused faults were checked at the end of the test's call


@pytest.fixture
def query_model(query_models_mock: QueryModelsMock, _qm_marker: MarkerOptions) -> dict[str, Any]:
    """A valid document (a copy): the marker's first definition, else the catalogue's first by name.

    The mock is active for a test that asks for it.
    """
    first = _qm_marker.documents[0] if _qm_marker.documents else next(iter(query_models_mock.catalog), None)
    if first is None:
        pytest.fail("query_model: the Query Model catalogue is empty", pytrace=False)
    return copy.deepcopy(first)
