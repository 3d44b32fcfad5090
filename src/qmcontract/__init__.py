"""qmcontract: contract tests, fixtures and a mock server for ObjectiveAI's Query Model API.

The semantic core (``canonical``, ``names``, ``model``, ``validate``) is what every other
part calls: strategies, the respx mock, the server and the conformance suite.

Every export is loaded on first use, so ``import qmcontract`` (and the pytest plugin, which
every pytest session of every user loads) costs nothing until something is actually used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from qmcontract.catalog import Catalog, load_catalog
    from qmcontract.errors import (
        CatalogError,
        ContractViolation,
        InputError,
        InvalidDefinition,
        MissingExtra,
        MockAssertionError,
        QmContractError,
        SpecError,
        Violation,
    )
    from qmcontract.faults import Fault
    from qmcontract.model import build_query_llm, build_query_model
    from qmcontract.names import llm_name, query_model_name
    from qmcontract.respx_mock import QueryModelsMock, RecordedCall, mock_query_models
    from qmcontract.server import create_app, running_server, serve
    from qmcontract.validate import validate_query_llm, validate_query_model

__version__ = "0.2.0"

#: Each export and the module it comes from.
_EXPORTS: Final = {
    "Catalog": "qmcontract.catalog",
    "load_catalog": "qmcontract.catalog",
    "CatalogError": "qmcontract.errors",
    "ContractViolation": "qmcontract.errors",
    "InputError": "qmcontract.errors",
    "InvalidDefinition": "qmcontract.errors",
    "MissingExtra": "qmcontract.errors",
    "MockAssertionError": "qmcontract.errors",
    "QmContractError": "qmcontract.errors",
    "SpecError": "qmcontract.errors",
    "Violation": "qmcontract.errors",
    "Fault": "qmcontract.faults",
    "build_query_llm": "qmcontract.model",
    "build_query_model": "qmcontract.model",
    "llm_name": "qmcontract.names",
    "query_model_name": "qmcontract.names",
    "QueryModelsMock": "qmcontract.respx_mock",
    "RecordedCall": "qmcontract.respx_mock",
    "mock_query_models": "qmcontract.respx_mock",
    "create_app": "qmcontract.server",
    "running_server": "qmcontract.server",
    "serve": "qmcontract.server",
    "validate_query_llm": "qmcontract.validate",
    "validate_query_model": "qmcontract.validate",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qmcontract' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "Catalog",
    "CatalogError",
    "ContractViolation",
    "Fault",
    "InputError",
    "InvalidDefinition",
    "MissingExtra",
    "MockAssertionError",
    "QmContractError",
    "QueryModelsMock",
    "RecordedCall",
    "SpecError",
    "Violation",
    "__version__",
    "build_query_llm",
    "build_query_model",
    "create_app",
    "llm_name",
    "load_catalog",
    "mock_query_models",
    "query_model_name",
    "running_server",
    "serve",
    "validate_query_llm",
    "validate_query_model",
]
