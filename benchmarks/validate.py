"""Documents per second: ``validate_query_model`` against the ``jsonschema`` package's schema check alone.

``validate_query_model`` checks the schema *and* every semantic rule of the contract (hashes
included); the ``jsonschema`` column only checks the ``QueryModel`` schema of openapi.yaml, the
way a project without qmcontract would. Both run on the same valid documents in the same process;
each figure is the median of several timed repeats. The goal is ours >= 3x jsonschema. The
``jsonschema-rs`` column (schema only, the engine our validator uses) is printed for context.

    python benchmarks/validate.py            # about 15 s
    python benchmarks/validate.py --quick    # about 3 s

Nothing is asserted: it prints a table.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import jsonschema
import jsonschema_rs

from qmcontract import build_query_model, validate_query_model
from qmcontract.inputs import load_json_or_yaml
from qmcontract.resources import mocks_path
from qmcontract.spec import component_schema

GOAL = 3.0


@dataclass(frozen=True)
class Timing:
    """How a benchmark run is sized."""

    repeats: int
    seconds_per_repeat: float


@dataclass(frozen=True)
class Row:
    """Documents per second of each contender on one document."""

    label: str
    ours: float
    jsonschema: float
    jsonschema_rs: float

    @property
    def ratio(self) -> float:
        return self.ours / self.jsonschema


def documents() -> list[tuple[str, dict[str, Any]]]:
    """Worked example 2 (3 LLMs, training table) and the 128-LLM mock, built by the core."""
    mocks = mocks_path()
    return [
        (
            "3 LLMs (worked example 2)",
            build_query_model(load_json_or_yaml(mocks / "example2-training-table.yaml")),
        ),
        ("128 LLMs (large-128-llms)", build_query_model(load_json_or_yaml(mocks / "large-128-llms.yaml"))),
    ]


def per_second(call: Callable[[], object], timing: Timing) -> float:
    """Calls per second: the median over ``timing.repeats`` runs of a loop sized to the time budget."""
    timer = timeit.Timer(call)
    once = min(timer.repeat(repeat=3, number=1))
    number = max(1, int(timing.seconds_per_repeat / max(once, 1e-9)))
    runs = timer.repeat(repeat=timing.repeats, number=number)
    return number / statistics.median(runs)


def measure(label: str, document: dict[str, Any], timing: Timing) -> Row:
    """Time the three contenders on one document, after checking they all find it valid."""
    schema = component_schema("QueryModel")
    python_checker = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    rust_checker = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)
    if validate_query_model(document, metadata=False) or not python_checker.is_valid(document):
        raise SystemExit(f"{label}: the benchmark document is not valid")
    if not rust_checker.is_valid(document):
        raise SystemExit(f"{label}: jsonschema-rs rejects the benchmark document")
    return Row(
        label,
        ours=per_second(lambda: validate_query_model(document, metadata=False), timing),
        jsonschema=per_second(lambda: list(python_checker.iter_errors(document)), timing),
        jsonschema_rs=per_second(lambda: rust_checker.is_valid(document), timing),
    )


def render(rows: list[Row], timing: Timing) -> str:
    """The table, the goal, and how it was measured."""
    header = f"{'document':<28} {'ours docs/s':>12} {'jsonschema docs/s':>18} {'ours/jsonschema':>16}"
    header += f" {'goal >= 3x':>11} {'jsonschema-rs docs/s':>21}"
    lines = [header, "-" * len(header)]
    for row in rows:
        verdict = "met" if row.ratio >= GOAL else "NOT MET"
        lines.append(
            f"{row.label:<28} {row.ours:>12,.0f} {row.jsonschema:>18,.0f} {row.ratio:>15.1f}x"
            f" {verdict:>11} {row.jsonschema_rs:>21,.0f}"
        )
    lines += [
        "",
        "ours = validate_query_model(doc, metadata=False): schema + every semantic rule (names re-hashed).",
        "jsonschema = Draft202012Validator(component_schema('QueryModel'), format_checker=...).iter_errors:"
        " schema only.",
        "jsonschema-rs = the same schema, schema only, is_valid (the first step of validate_query_model).",
        f"median of {timing.repeats} repeats of ~{timing.seconds_per_repeat:g} s each;"
        f" goal: ours >= {GOAL:g}x jsonschema.",
        f"Python {platform.python_version()}, jsonschema {version('jsonschema')},"
        f" jsonschema-rs {version('jsonschema-rs')}, qmcontract {version('qmcontract')}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats (about 3 s)")
    args = parser.parse_args()
    timing = (
        Timing(repeats=3, seconds_per_repeat=0.1) if args.quick else Timing(repeats=7, seconds_per_repeat=0.3)
    )
    rows = [measure(label, document, timing) for label, document in documents()]
    print(render(rows, timing))


if __name__ == "__main__":
    main()
