"""qmcontract: contract tests, fixtures and a mock server for ``GET /query_models/{slug}``.

The semantic core (``canonical``, ``names``, ``model``, ``validate``) is what every other
part calls: strategies, the respx mock, the server and the conformance suite.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

from qmcontract.catalog import Catalog, load_catalog
from qmcontract.errors import (
    CatalogError,
    ContractViolation,
    InputError,
    InvalidDefinition,
    MockAssertionError,
    QmContractError,
    SpecError,
    Violation,
)
from qmcontract.faults import Fault
from qmcontract.model import build_query_model
from qmcontract.names import llm_name, query_model_name
from qmcontract.validate import validate_query_model

if TYPE_CHECKING:
    from qmcontract.respx_mock import QueryModelsMock, RecordedCall, mock_query_models
    from qmcontract.server import create_app, running_server, serve

__version__ = "0.1.0"

#: Exports whose modules import respx, httpx or uvicorn: loaded on first use (keeps the plugin light).
_LAZY: Final = {
    "QueryModelsMock": "qmcontract.respx_mock",
    "RecordedCall": "qmcontract.respx_mock",
    "mock_query_models": "qmcontract.respx_mock",
    "create_app": "qmcontract.server",
    "running_server": "qmcontract.server",
    "serve": "qmcontract.server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'qmcontract' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "Catalog",
    "CatalogError",
    "ContractViolation",
    "Fault",
    "InputError",
    "InvalidDefinition",
    "MockAssertionError",
    "QmContractError",
    "QueryModelsMock",
    "RecordedCall",
    "SpecError",
    "Violation",
    "__version__",
    "build_query_model",
    "create_app",
    "llm_name",
    "load_catalog",
    "mock_query_models",
    "query_model_name",
    "running_server",
    "serve",
    "validate_query_model",
]
