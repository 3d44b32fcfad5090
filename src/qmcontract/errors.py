"""Exceptions and the violation record shared by every part of the toolkit.

::

    QmContractError                    base of everything we raise
    ├── InvalidDefinition(ValueError)  a Query Model definition breaks the contract
    ├── CatalogError                   a catalogue file cannot be read or built
    ├── InputError                     a file or stdin cannot be read as JSON or YAML
    ├── SpecError                      openapi.yaml cannot be found or loaded
    └── MissingExtra(ImportError)      a feature needs an optional extra that is not installed
    ContractViolation(AssertionError)  raised by test helpers, so pytest shows it as a failure
    MockAssertionError(AssertionError) a check on the respx mock's recorded calls failed

Faces add their own subclasses of QmContractError where they need one: ``server.ServerError``
(bad server options, port in use) and ``conformance.target.ConformanceUsageError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Violation:
    """One broken rule: its contract id, a JSON pointer into the document, and why."""

    rule: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{shown_pointer(self.path)}: {self.rule}: {self.message}"


def shown_pointer(path: str) -> str:
    """A JSON pointer as text shows it: the root pointer ``""`` reads ``(root)``."""
    return path or "(root)"


def format_violations(violations: Iterable[Violation], *, prefix: str = "") -> str:
    """One line per violation, each optionally prefixed (for example by a file name)."""
    return "\n".join(f"{prefix}{violation}" for violation in violations)


class QmContractError(Exception):
    """Base class of every error qmcontract raises on purpose."""


class InvalidDefinition(QmContractError, ValueError):
    """A Query Model definition cannot be built: it carries every violation found."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = tuple(violations)
        super().__init__(
            f"invalid Query Model definition ({len(self.violations)} violation(s)):\n"
            + format_violations(self.violations, prefix="  ")
        )


class CatalogError(QmContractError):
    """A catalogue file is unreadable or holds an invalid definition."""


class InputError(QmContractError):
    """An input file or standard input is unreadable, or not JSON or YAML."""


class SpecError(QmContractError):
    """The shipped openapi.yaml cannot be found or parsed."""


class MissingExtra(QmContractError, ImportError):
    """A feature needs an optional extra (``pip install 'qmcontract[server]'``) that is not installed."""


class ContractViolation(QmContractError, AssertionError):
    """A document or exchange breaks the contract inside a test."""

    def __init__(self, violations: Sequence[Violation], *, context: str = "") -> None:
        self.violations = tuple(violations)
        head = f"{context}: " if context else ""
        super().__init__(
            f"{head}{len(self.violations)} contract violation(s):\n"
            + format_violations(self.violations, prefix="  ")
        )


class MockAssertionError(QmContractError, AssertionError):
    """A check on the mock's recorded calls failed; pytest reports it as a test failure."""
