"""Per-request time of the respx mock against its peers, measured back to back in one run.

Every contender serves the same JSON body (a Query Model document from the shipped catalogue)
to the same kind of client, an ``httpx.Client`` reused across requests:

- ``httpx.MockTransport`` returning the body: the client's own floor, no mocking library;
- a bare respx route returning the body: what a hand-written respx test costs;
- ``mock_query_models`` (what the ``query_models_mock`` fixture is): routing, engine, recording;
- pytest-httpserver serving the body over a loopback socket.

Rounds are interleaved, so background load hits every contender alike, and each contender's
fastest round is what the ratios use (as ``timeit`` advises: slower rounds measure the
machine's other work, not the code); the median round is printed beside it, and so is the
fastest round in process CPU time, which a busy machine disturbs far less. Goals: the mock
within 1.3x the bare respx route, and at least 3.5x faster than pytest-httpserver. ``--check``
exits 1 when a goal is missed.

    python benchmarks/respx_mock.py [--requests 1000] [--rounds 15] [--check]
"""

from __future__ import annotations

import argparse
import gc
import logging
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import httpx
import respx
from pytest_httpserver import HTTPServer

from qmcontract.catalog import load_catalog
from qmcontract.respx_mock import DEFAULT_BASE_URL, mock_query_models

GOAL_VS_RESPX = 1.3
GOAL_VS_HTTPSERVER = 3.5
Setup = Callable[[], AbstractContextManager[tuple[httpx.Client, str]]]


def per_request_us(client: httpx.Client, url: str, requests: int) -> tuple[float, float]:
    """Mean wall and CPU microseconds per GET, after a short warm-up; every response is read and checked.

    CPU time is the whole process's (pytest-httpserver's server thread included), so it compares
    fairly and moves far less than wall time when other work shares the machine.
    """
    for _ in range(50):
        client.get(url).raise_for_status()
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(requests):
        client.get(url).raise_for_status()
    return (time.perf_counter() - start) / requests * 1e6, (time.process_time() - cpu) / requests * 1e6


def contenders(slug: str, body: bytes) -> dict[str, Setup]:
    """Each contender as a context manager yielding (client, url) ready to measure."""
    url = f"{DEFAULT_BASE_URL}/query_models/{slug}"
    catalog = load_catalog()

    @contextmanager
    def mock_transport() -> Iterator[tuple[httpx.Client, str]]:
        def handler(_request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, content=body, headers={"content-type": "application/json"})

        with httpx.Client(transport=httpx.MockTransport(handler)) as client:
            yield client, url

    @contextmanager
    def bare_respx() -> Iterator[tuple[httpx.Client, str]]:
        with respx.mock(assert_all_called=False) as router, httpx.Client() as client:
            router.get(url).respond(200, content=body, content_type="application/json")
            yield client, url

    @contextmanager
    def query_models_mock() -> Iterator[tuple[httpx.Client, str]]:
        with mock_query_models(catalog.copy(), base_url=DEFAULT_BASE_URL) as mock, httpx.Client() as client:
            yield client, mock.url(slug)

    @contextmanager
    def httpserver() -> Iterator[tuple[httpx.Client, str]]:
        server = HTTPServer(host="127.0.0.1", port=0)
        server.expect_request(f"/query_models/{slug}").respond_with_data(
            body, content_type="application/json"
        )
        server.start()
        try:
            with httpx.Client() as client:
                yield client, server.url_for(f"/query_models/{slug}")
        finally:
            server.clear()
            server.stop()

    return {
        "httpx.MockTransport (floor)": mock_transport,
        "bare respx route": bare_respx,
        "query_models_mock": query_models_mock,
        "pytest-httpserver": httpserver,
    }


def measure(setups: dict[str, Setup], *, requests: int, rounds: int) -> dict[str, list[tuple[float, float]]]:
    """Per-request (wall, CPU) times of each contender, one per round, rounds interleaved."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in setups}
    for _ in range(rounds):
        for name, setup in setups.items():
            gc.collect()
            with setup() as (client, url):
                samples[name].append(per_request_us(client, url, requests))
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per contender per round")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds; the fastest is used")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(
        logging.ERROR
    )  # pytest-httpserver's best configuration: no access log

    catalog = load_catalog()
    slug = catalog.names()[0]
    with mock_query_models(catalog.copy(), base_url=DEFAULT_BASE_URL) as mock, httpx.Client() as client:
        body = client.get(mock.url(slug)).content
    print(f"GET /query_models/{slug} ({len(body)} bytes), {args.requests} requests x {args.rounds} rounds")

    samples = measure(contenders(slug, body), requests=args.requests, rounds=args.rounds)
    results = {name: min(wall for wall, _ in values) for name, values in samples.items()}
    cpu = {name: min(used for _, used in values) for name, values in samples.items()}
    print(f"  {'':<28} {'best':>8} {'median':>8} {'best CPU':>9}  us/request")
    for name, values in samples.items():
        median = statistics.median(wall for wall, _ in values)
        print(f"  {name:<28} {results[name]:8.1f} {median:8.1f} {cpu[name]:9.1f}")

    ours = results["query_models_mock"]
    vs_respx = ours / results["bare respx route"]
    vs_server = results["pytest-httpserver"] / ours
    vs_floor = ours / results["httpx.MockTransport (floor)"]
    met_respx, met_server = vs_respx <= GOAL_VS_RESPX, vs_server >= GOAL_VS_HTTPSERVER
    print(f"query_models_mock / bare respx route:  {vs_respx:.2f}x  {_goal('<=', GOAL_VS_RESPX, met_respx)}")
    server_goal = _goal(">=", GOAL_VS_HTTPSERVER, met_server)
    print(f"pytest-httpserver / query_models_mock: {vs_server:.2f}x  {server_goal}")
    print(f"query_models_mock / MockTransport:     {vs_floor:.2f}x  (the client's own floor)")
    cpu_vs_respx = cpu["query_models_mock"] / cpu["bare respx route"]
    cpu_vs_server = cpu["pytest-httpserver"] / cpu["query_models_mock"]
    print(f"in CPU time (information): {cpu_vs_respx:.2f}x a bare respx route, ", end="")
    print(f"{cpu_vs_server:.2f}x faster than pytest-httpserver")
    return 1 if args.check and not (met_respx and met_server) else 0


def _goal(relation: str, goal: float, met: bool) -> str:
    return f"(goal {relation} {goal}x: {'met' if met else 'MISSED'})"


if __name__ == "__main__":
    sys.exit(main())
