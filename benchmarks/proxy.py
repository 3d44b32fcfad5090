"""What `qmcontract proxy` costs: added latency at concurrency 1, and throughput against Prism's proxy.

Everything is measured in one run, on loopback, with the same load generator:

- **added p50 latency**: ``wrk -t1 -c1`` on ``GET /query_models/{slug}`` straight to the upstream
  (our mock server) and through each proxy; the added latency is the difference of the medians
  (p50) of the two, median over the rounds;
- **throughput**: ``wrk -t1 -c32`` on the same request through ``qmcontract proxy``, through
  Prism 5's proxy mode (``prism proxy openapi.yaml UPSTREAM``, default logging and ``-v silent``,
  its fastest), and to the upstream alone.

The upstream is ``qmcontract serve`` (one worker, access log off). Each proxy and the upstream
share one core (``taskset``, when there are 2 cores or more) and wrk has the other, so every
proxy gets the same CPU and pays for the same upstream. Measurements are interleaved in rounds
and the median round is kept. The plain retrieve and ``?metadata=true`` are both measured.

``qmcontract proxy`` judges every exchange after sending it (a background task in its event
loop), so its throughput includes judging; at the end it is stopped with SIGINT and its JSON
report says how many exchanges it judged, how many were identical to one already judged (cheap)
and how many it could not judge because it fell behind. Correct traffic: no violation expected.

Usage: ``python benchmarks/proxy.py [--quick] [--skip-prism]``. Installs ``wrk`` (Debian
package, with apt-get) and Prism (npm, into ``benchmarks/.work/``, never committed) when missing.
Bounded: every wrk run has a fixed duration and every process a timeout; the full run takes about
4 minutes, ``--quick`` about 1. Results are also written to ``benchmarks/.work/proxy-results.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import time
from dataclasses import asdict, dataclass

from _loopback import (
    PATHS,
    SPEC,
    WORK,
    ensure_prism,
    ensure_wrk,
    free_port,
    machine,
    qmcontract,
    run_wrk,
    started,
)

CONNECTIONS = 32


@dataclass(frozen=True)
class Load:
    """What one wrk run measured."""

    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def load(wrk_path: str, url: str, *, seconds: float, connections: int) -> Load:
    measured = run_wrk(wrk_path, url, seconds=seconds, connections=connections)
    return Load(
        requests=measured.requests,
        rps=measured.rps,
        p50_ms=measured.p50_ms,
        p99_ms=measured.p99_ms,
        errors=measured.socket_errors + measured.non_2xx,
    )


def measure(
    targets: dict[str, int], wrk: str, *, rounds: int, seconds: float, connections: int
) -> dict[str, dict[str, Load]]:
    """Interleaved rounds over every target and path; the median round (by req/s) of each."""
    runs: dict[str, dict[str, list[Load]]] = {name: {label: [] for label in PATHS} for name in targets}
    for number in range(1, rounds + 1):
        print(f"  c{connections} round {number}/{rounds} ...", flush=True)
        for name, port in targets.items():
            for label, path in PATHS.items():
                runs[name][label].append(
                    load(wrk, f"http://127.0.0.1:{port}{path}", seconds=seconds, connections=connections)
                )
    return {
        name: {label: sorted(loads, key=lambda r: r.rps)[len(loads) // 2] for label, loads in by_path.items()}
        for name, by_path in runs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 2 s instead of 5 rounds of 3 s")
    parser.add_argument("--skip-prism", action="store_true", help="do not install or measure Prism")
    args = parser.parse_args()
    rounds, seconds = (3, 2.0) if args.quick else (5, 3.0)
    wrk = ensure_wrk()
    prism = None if args.skip_prism else ensure_prism()
    WORK.mkdir(parents=True, exist_ok=True)
    report_path = WORK / "proxy-report.json"
    print(f"wrk -t1, {rounds} rounds of {seconds:.0f} s per measurement; {machine()}", flush=True)

    upstream_port, proxy_port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{upstream_port}"
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            started(
                "upstream",
                qmcontract("serve", "--port", str(upstream_port), "--log-level", "warning"),
                upstream_port,
            )
        )
        targets = {"upstream alone (qmcontract serve)": upstream_port}
        ours = qmcontract(
            "proxy", "--upstream", upstream, "--port", str(proxy_port), "--report", str(report_path)
        )
        stack.enter_context(started("qmcontract-proxy", ours, proxy_port, stop=signal.SIGINT))
        targets["qmcontract proxy"] = proxy_port
        if prism is not None:
            for name, extra in (("Prism proxy -v silent", ["-v", "silent"]), ("Prism proxy", [])):
                port = free_port()
                command = [
                    str(prism),
                    "proxy",
                    str(SPEC),
                    upstream,
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    *extra,
                ]
                stack.enter_context(started(name.replace(" ", "-"), command, port))
                targets[name] = port
        print("  warming up ...", flush=True)
        for port in targets.values():
            for path in PATHS.values():
                load(wrk, f"http://127.0.0.1:{port}{path}", seconds=1, connections=CONNECTIONS)
        latency = measure(targets, wrk, rounds=rounds, seconds=seconds, connections=1)
        throughput = measure(targets, wrk, rounds=rounds, seconds=seconds, connections=CONNECTIONS)
    judged = json.loads(report_path.read_text(encoding="utf-8"))
    print_results(latency, throughput, judged)
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "rounds": rounds,
        "seconds": seconds,
        "latency_c1": {
            name: {label: asdict(r) for label, r in loads.items()} for name, loads in latency.items()
        },
        "throughput_c32": {
            name: {label: asdict(r) for label, r in loads.items()} for name, loads in throughput.items()
        },
        "qmcontract_proxy_report": {key: judged[key] for key in ("verdict", "settings", "requests")},
    }
    (WORK / "proxy-results.json").write_text(json.dumps(results, indent=2))


def print_results(
    latency: dict[str, dict[str, Load]], throughput: dict[str, dict[str, Load]], judged: dict[str, object]
) -> None:
    base = "upstream alone (qmcontract serve)"
    print("\n| through | endpoint | p50 ms at c1 | added p50 ms | req/s at c32 | p50 ms | p99 ms | errors |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in throughput:
        for label in PATHS:
            one, many = latency[name][label], throughput[name][label]
            added = "-" if name == base else f"{one.p50_ms - latency[base][label].p50_ms:+.3f}"
            print(
                f"| {name} | {label} | {one.p50_ms:.3f} | {added} | {many.rps:,.0f} | {many.p50_ms:.2f} | "
                f"{many.p99_ms:.2f} | {one.errors + many.errors} |"
            )
    print()
    for label in PATHS:
        ours = throughput["qmcontract proxy"][label]
        added = latency["qmcontract proxy"][label].p50_ms - latency[base][label].p50_ms
        print(f"{label}: qmcontract proxy adds {added * 1000:.0f} us at p50 (goal <= 1000 us)")
        for peer in ("Prism proxy -v silent", "Prism proxy"):
            if peer in throughput:
                ratio = ours.rps / throughput[peer][label].rps
                print(f"{label}: {ratio:.1f}x the req/s of {peer} (goal >= 5x)")
        print(f"{label}: {ours.rps / throughput[base][label].rps:.2f}x the req/s of the upstream alone")
    settings = judged.get("settings", {})
    assert isinstance(settings, dict)
    total, done = settings.get("exchanges", 0), settings.get("judged", 0)
    behind = settings.get("not judged: judge behind (proxy)", 0)
    print(f"\nqmcontract proxy judged {done:,} of {total:,} exchanges ({behind:,} not judged: judge behind)")
    print(f"its verdict: {judged.get('verdict')}")


if __name__ == "__main__":
    main()
