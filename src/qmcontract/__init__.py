"""qmcontract: contract tests, fixtures and a mock server for ``GET /query_models/{slug}``.

The semantic core (``canonical``, ``names``, ``model``, ``validate``) is what every other
part calls: strategies, the respx mock, the server and the conformance suite.
"""

from __future__ import annotations

from qmcontract.errors import (
    CatalogError,
    ContractViolation,
    InvalidDefinition,
    QmContractError,
    SpecError,
    Violation,
)
from qmcontract.model import build_query_model
from qmcontract.names import llm_name, query_model_name
from qmcontract.validate import validate_query_model

__version__ = "0.1.0"

__all__ = [
    "CatalogError",
    "ContractViolation",
    "InvalidDefinition",
    "QmContractError",
    "SpecError",
    "Violation",
    "__version__",
    "build_query_model",
    "llm_name",
    "query_model_name",
    "validate_query_model",
]
