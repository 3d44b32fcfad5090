"""A tiny ObjectiveAI client for ``GET /query_models/{slug}``, as a downstream project would write it.

It knows nothing about qmcontract: its test suite (``tests/``) uses the installed qmcontract
pytest plugin to run offline against the contract's behaviour, including injected faults.

Errors::

    QueryModelsError          base of every error this client raises
    ├── BadRequest            400: malformed parameters
    ├── Unauthorized          401: an API key is required (``me=True``)
    ├── NotFound              404: no Query Model of that name
    ├── RateLimited           429 once retries are spent; ``retry_after`` in seconds
    ├── ServerError           5xx once retries are spent
    ├── UnexpectedResponse    a body that is not the JSON object the contract promises
    └── ConnectionFailed      the request never got an answer (connect error, timeout, dropped)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

DEFAULT_BASE_URL = "https://api.objective-ai.io"
RETRIED_STATUSES = frozenset({429, 502, 503, 504})


class QueryModelsError(Exception):
    """Base of every error this client raises; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BadRequest(QueryModelsError):
    """400: the request's parameters are malformed."""


class Unauthorized(QueryModelsError):
    """401: the request needs an API key."""


class NotFound(QueryModelsError):
    """404: no Query Model has that name."""


class RateLimited(QueryModelsError):
    """429: too many requests; ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(self, message: str, *, status: int | None = 429, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ServerError(QueryModelsError):
    """5xx: the server failed."""


class UnexpectedResponse(QueryModelsError):
    """The body is not the JSON object the contract promises."""


class ConnectionFailed(QueryModelsError):
    """No answer: the connection failed, timed out or was dropped."""


_ERRORS: dict[int, type[QueryModelsError]] = {400: BadRequest, 401: Unauthorized, 404: NotFound}


class QueryModelsClient:
    """Retrieves Query Models. Retries 429/502/503/504 and transport errors ``max_retries`` times,
    honouring ``Retry-After`` (else exponential backoff from ``backoff`` seconds)."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 2,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        base_url = base_url or os.environ.get("OBJECTIVEAI_API_BASE") or DEFAULT_BASE_URL
        api_key = api_key or os.environ.get("OBJECTIVEAI_API_KEY")
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self._max_retries = max_retries
        self._backoff = backoff
        self._sleep = sleep

    def retrieve(
        self,
        slug: str,
        *,
        metadata: bool = False,
        me: bool | None = None,
        from_: datetime | None = None,
        to: datetime | None = None,
    ) -> dict[str, Any]:
        """The Query Model ``slug``; with ``metadata``, its usage statistics too (``me``: yours only)."""
        params: dict[str, str] = {}
        if metadata:
            params["metadata"] = "true"
            if me is not None:
                params["me"] = "true" if me else "false"
            if from_ is not None:
                params["from"] = from_.isoformat()
            if to is not None:
                params["to"] = to.isoformat()
        return self._get(f"/query_models/{slug}", params)

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        for attempt in range(self._max_retries + 1):
            last = attempt == self._max_retries
            try:
                response = self._http.get(path, params=params)
            except httpx.TransportError as exc:
                if last:
                    raise ConnectionFailed(f"GET {path}: {exc}") from exc
                self._sleep(self._backoff * 2**attempt)
                continue
            if response.status_code in RETRIED_STATUSES and not last:
                self._sleep(_retry_after(response) or self._backoff * 2**attempt)
                continue
            return _document(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> QueryModelsClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _document(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise UnexpectedResponse(
            f"{response.status_code}: body is not JSON: {response.text[:80]!r}", status=response.status_code
        ) from None
    if not isinstance(body, dict):
        raise UnexpectedResponse(
            f"{response.status_code}: body is not an object", status=response.status_code
        )
    if response.is_success:
        return body
    message = f"{response.status_code}: {body.get('message', body)}"
    if response.status_code == 429:
        raise RateLimited(message, retry_after=_retry_after(response))
    if response.status_code >= 500:
        raise ServerError(message, status=response.status_code)
    raise _ERRORS.get(response.status_code, QueryModelsError)(message, status=response.status_code)
