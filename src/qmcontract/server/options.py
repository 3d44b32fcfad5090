"""Every option of the mock server, in one value: :class:`ServerOptions`.

The command line (``qmcontract serve``), :func:`~qmcontract.server.serve`,
:func:`~qmcontract.server.create_app`, :func:`~qmcontract.server.running_server` and the
environment handed to worker processes all build this one value, so an option is declared
once, checked once (here) and read by name everywhere else.

Secrets can come from the environment (``token_env``, ``control_token_env``): a value given on
the command line (``--token``) is visible to every user of the machine through ``ps``, a
variable's name is not. Workers inherit the environment and read the same variables.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
from dataclasses import dataclass
from typing import Any, Final

from qmcontract.errors import QmContractError
from qmcontract.limits import MAX_LATENCY_MS

LOG_LEVELS: Final = ("critical", "error", "warning", "info", "debug")
#: Host names that always mean this machine (RFC 6761), besides loopback addresses.
LOOPBACK_NAMES: Final = frozenset({"localhost"})


class ServerError(QmContractError):
    """The server cannot start: the address is taken, or an option is out of range."""


@dataclass(frozen=True)
class ServerOptions:
    """How the server listens, misbehaves on purpose, guards its control API and logs.

    ``tokens`` / ``token_env``: accepted API tokens, given directly or as names of environment
    variables that hold them; when any is set, ``metadata=true&me=true`` with another
    ``authorization`` gets 401. ``control_token`` / ``control_token_env``: when set, every
    control request needs ``authorization: Bearer <token>``; without one the control API
    answers loopback clients only, and only on a loopback bind.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    tokens: tuple[str, ...] = ()
    token_env: tuple[str, ...] = ()
    control_token: str | None = None
    control_token_env: str | None = None
    latency_ms: int = 0
    error_rate: float = 0.0
    seed: int | None = None
    self_check: bool = False
    access_log: bool = True
    workers: int = 1
    log_level: str = "info"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", tuple(self.tokens))
        object.__setattr__(self, "token_env", tuple(self.token_env))
        _check_range("latency", self.latency_ms, 0, MAX_LATENCY_MS, unit=" ms")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ServerError(f"the error rate must be between 0 and 1, got {self.error_rate}")
        _check_range("the port", self.port, 0, 65535)
        if self.workers < 1:
            raise ServerError(f"workers must be >= 1, got {self.workers}")
        if self.log_level not in LOG_LEVELS:
            raise ServerError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}")
        if self.control_token is not None and not self.control_token.strip():
            raise ServerError("the control token is empty")
        self.api_tokens()
        self.control_secret()

    @classmethod
    def of(cls, options: ServerOptions | None = None, **overrides: Any) -> ServerOptions:
        """``options`` (default: the defaults) with ``overrides`` applied; TypeError for an unknown name."""
        return dataclasses.replace(options or cls(), **overrides)

    def api_tokens(self) -> tuple[str, ...]:
        """The accepted API tokens: those given, then those read from ``token_env``."""
        return (*self.tokens, *(_from_environment("--token-env", name) for name in self.token_env))

    def control_secret(self) -> str | None:
        """The control token (given, or read from ``control_token_env``), or None."""
        if self.control_token_env is not None:
            return _from_environment("--control-token-env", self.control_token_env)
        return self.control_token

    @property
    def logs_access(self) -> bool:
        """Access lines are written at log levels info and debug, unless turned off."""
        return self.access_log and self.log_level in ("info", "debug")

    @property
    def loopback(self) -> bool:
        """True when the server listens on a loopback address only."""
        return is_loopback_host(self.host)

    def to_json(self) -> str:
        """The options as a worker process reads them back (:meth:`from_json`)."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServerOptions:
        """Options written by :meth:`to_json`."""
        return cls(**json.loads(text))


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``), with or without brackets."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _check_range(what: str, value: int, low: int, high: int, *, unit: str = "") -> None:
    if not low <= value <= high:
        raise ServerError(f"{what} must be between {low} and {high:,}{unit}, got {value}")


def _from_environment(option: str, name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ServerError(f"{option} {name}: the environment variable is not set or is empty")
    return value
