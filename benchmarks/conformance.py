"""Benchmark: the conformance suite against the embedded server, and against broken variants.

1. Wall time and request count of a default ``qmcontract conformance`` (fresh process,
   embedded mock server). Goal: under 30 s on a 2-core machine.
2. Over every deliberately broken variant of our server (``qmcontract.conformance.mutations``,
   each breaking exactly one rule), which ones are caught by

   - plain ``schemathesis run openapi.yaml --checks all`` (as a user would run it). It also
     fails on the *correct* server (two false alarms, see peers.md), so a variant only counts
     as caught when schemathesis reports a kind of failure it does not report on the correct
     server;
   - schemathesis in its best configuration for this API: ``--checks all --exclude-checks
     negative_data_rejection,positive_data_acceptance --continue-on-failure`` (it passes the
     correct server, so any failure counts);
   - ``qmcontract conformance`` with default options and no token, over loopback: caught when it
     reports the variant's rule.

Both tools use 100 examples and seed 1; every schemathesis run gets a fresh working
directory, so that its ``.schemathesis/`` replay store never carries over between variants.
Run: ``python benchmarks/conformance.py`` (about an hour on 2 cores: two schemathesis runs and ours
per variant, 46 variants; each variant's time is printed on stderr as it finishes).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from qmcontract.catalog import load_catalog
from qmcontract.conformance.mutations import MUTATIONS, Mutation
from qmcontract.conformance.runner import ConformanceOptions, run_conformance
from qmcontract.resources import spec_path
from qmcontract.server import running_server

SEED = 1
GOAL_SECONDS = 30.0
BEST_EXCLUDED = "negative_data_rejection,positive_data_acceptance"
FAILURE_LINE = re.compile(r"(ST\d{3}) ([^:\n]+): \d+")


def console_script(name: str) -> list[str]:
    """The console script installed beside this interpreter (else on PATH)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed")
    return [found]


def default_run() -> tuple[float, int, bool]:
    """A default ``qmcontract conformance`` in a fresh process: seconds, requests, ok."""
    with tempfile.TemporaryDirectory() as work:
        report = Path(work) / "report.json"
        started = time.perf_counter()
        done = subprocess.run(
            [*console_script("qmcontract"), "conformance", "--report", str(report)],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        if not report.exists():
            raise SystemExit(f"qmcontract conformance failed to run:\n{done.stdout}\n{done.stderr}")
        data = json.loads(report.read_text())
    return seconds, int(data["requests"]), done.returncode == 0 and data["exit_code"] == 0


@dataclass(frozen=True)
class StOutcome:
    """What one ``schemathesis run`` reported."""

    exit_code: int
    kinds: frozenset[str]
    seconds: float


def schemathesis_run(url: str, *extra: str) -> StOutcome:
    """``schemathesis run openapi.yaml --url URL --checks all`` in a fresh working directory."""
    command = [
        *console_script("schemathesis"),
        "run",
        str(spec_path()),
        "--url",
        url,
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        "100",
        "--no-color",
        *extra,
    ]
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        done = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
    summary = done.stdout.rsplit("SUMMARY", 1)[-1]
    kinds = frozenset(f"{code} {title.strip()}" for code, title in FAILURE_LINE.findall(summary))
    return StOutcome(done.returncode, kinds, seconds)


@dataclass(frozen=True)
class Row:
    """One variant's outcome with each tool."""

    name: str
    rule: str
    plain: StOutcome
    best: StOutcome
    ours: tuple[str, ...]
    ours_seconds: float


def measure(mutation: Mutation | None) -> Row:
    """Run the three configurations against one server (None: the correct one)."""
    catalog = load_catalog()
    hook = mutation.hook(catalog) if mutation is not None else None
    with running_server(catalog, hook=hook, access_log=False) as url:
        plain = schemathesis_run(url)
        best = schemathesis_run(url, "--exclude-checks", BEST_EXCLUDED, "--continue-on-failure")
        started = time.perf_counter()
        report = run_conformance(ConformanceOptions(base_url=url, seed=SEED))
        ours_seconds = time.perf_counter() - started
    name, rule = (mutation.name, mutation.rule) if mutation is not None else ("(correct server)", "-")
    ours = report.rules_with("failed") + tuple(f"error: {e}" for e in report.errors)
    return Row(name, rule, plain, best, ours, ours_seconds)


def main() -> None:
    # schemathesis sends requests h11 rejects; uvicorn would log each of them.
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
    seconds, requests, ok = default_run()
    print("== default `qmcontract conformance` against the embedded server")
    verdict = "met" if seconds < GOAL_SECONDS else "MISSED"
    print(f"wall time {seconds:.1f} s (goal < {GOAL_SECONDS:.0f} s: {verdict})")
    print(f"requests  {requests} ({requests / seconds:.0f} per second); all rules hold: {ok}")
    print()

    correct = measure(None)
    baseline = correct.plain.kinds
    print("== correct server")
    print(f"plain schemathesis --checks all: exit {correct.plain.exit_code}, reports {sorted(baseline)}")
    print(f"schemathesis best config: exit {correct.best.exit_code}, reports {sorted(correct.best.kinds)}")
    print(f"qmcontract conformance: broken rules {list(correct.ours) or 'none'}")
    print()

    rows = []
    for number, mutation in enumerate(MUTATIONS, 1):
        rows.append(measure(mutation))
        row = rows[-1]
        took = row.plain.seconds + row.best.seconds + row.ours_seconds
        print(f"  [{number}/{len(MUTATIONS)}] {row.name}: {took:.0f} s", file=sys.stderr, flush=True)
    header = (
        f"{'variant':<24} {'rule':<24} {'st --checks all':<16} {'st best':<9} {'qmcontract':<11} ours reports"
    )
    print("== broken variants (caught = yes)")
    print(header)
    print("-" * len(header))
    plain_caught = best_caught = ours_caught = exact = 0
    for row in rows:
        plain = bool(row.plain.kinds - baseline)
        best = row.best.exit_code != 0
        ours = row.rule in row.ours
        plain_caught += plain
        best_caught += best
        ours_caught += ours
        exact += row.ours == (row.rule,)
        print(
            f"{row.name:<24} {row.rule:<24} {_yes(plain):<16} {_yes(best):<9} {_yes(ours):<11} "
            f"{', '.join(row.ours) or '-'}"
        )
    total = len(rows)
    print()
    for label, caught in (
        ("plain `schemathesis run --checks all`", plain_caught),
        ("schemathesis, best configuration", best_caught),
        ("`qmcontract conformance`", ours_caught),
    ):
        print(f"caught by {label:<40} {caught:>2}/{total} ({caught / total:.0%})")
    print(f"  ... qmcontract reported exactly the broken rule: {exact}/{total}")
    st_time = sum(row.plain.seconds + row.best.seconds for row in rows) / (2 * total)
    our_time = sum(row.ours_seconds for row in rows) / total
    print(f"mean time per variant: schemathesis {st_time:.1f} s (fresh process), ", end="")
    print(f"qmcontract {our_time:.1f} s (in-process)")
    if ours_caught != total:
        raise SystemExit("goal missed: qmcontract conformance did not catch every variant")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


if __name__ == "__main__":
    main()
