"""Documents per second: ``query_models()`` against the schema-driven generators a user would reach for.

Every hypothesis contender runs inside a ``@given`` test with the same settings (generate phase only,
no database, no deadline, health checks off so that the peers are not stopped), on the same schema:
the 200 response schema of openapi.yaml (``oneOf`` QueryModel / QueryModelWithMetadata). Every
document each one delivers is then checked with ``validate_query_model`` (untimed), and its share
of valid documents printed. Contenders:

- ``query_models()`` from ``qmcontract.strategies`` (this project's venv);
- schemathesis's own generator (``schemathesis.generation.jsonschema.builder.build``, the engine
  behind its positive test cases), in this project's venv;
- ``hypothesis_jsonschema.from_schema``, in its own venv under ``benchmarks/.work/hj-venv``
  (created on first use): hypothesis-jsonschema 0.23.1 breaks on hypothesis newer than 6.170.0,
  so that venv pins ``hypothesis==6.170.0``; the package itself never does;
- ``qmcontract generate``: the library (``generate_documents``) and the CLI end to end (start-up
  included) writing to /dev/null.

Goals: ``query_models()`` >= 10x schemathesis's documents/s with 100% valid; ``qmcontract generate``
>= 3,000 valid documents/s. Every measurement is bounded by time (10 s, ``--quick`` 3 s).

    python benchmarks/generate.py            # about 2 minutes (plus the venv, the first time)
    python benchmarks/generate.py --quick    # about 40 s
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import requires, version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work"
HJ_VENV = WORK / "hj-venv"
HJ_PINS = ("hypothesis==6.170.0", "hypothesis-jsonschema==0.23.1", "jsonschema")
GOAL_RATIO = 10.0
GOAL_GENERATE = 3000.0


@dataclass(frozen=True)
class Row:
    """One contender's figures."""

    label: str
    per_second: float
    documents: int
    valid: int
    llms: float
    note: str = ""

    @property
    def valid_share(self) -> float:
        return 100.0 * self.valid / self.documents if self.documents else 0.0


# --- the schema and the hypothesis harness (also run inside the hypothesis-jsonschema venv) ----------


def response_schema() -> dict[str, Any]:
    """The 200 response schema of openapi.yaml, self-contained (components become ``$defs``)."""
    from qmcontract.spec import component_schema, load_spec  # noqa: PLC0415

    operation = load_spec()["paths"]["/query_models/{slug}"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    text = json.dumps(schema).replace("#/components/schemas/", "#/$defs/")
    defs = component_schema("QueryModel")["$defs"]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": defs, **json.loads(text)}


def run_given(strategy: Any, examples: int) -> tuple[list[Any], float]:
    """The documents one ``@given`` run delivers to its test body, and the run's wall time."""
    from hypothesis import HealthCheck, Phase, given, settings  # noqa: PLC0415

    delivered: list[Any] = []

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(document: Any) -> None:
        delivered.append(document)

    start = time.perf_counter()
    collect()
    return delivered, time.perf_counter() - start


def measure_given(strategy: Any, budget: float) -> tuple[float, list[Any]]:
    """Documents/s of a strategy in ``@given``: warm up, calibrate, then one run sized to ``budget``."""
    run_given(strategy, 2)
    documents, seconds = run_given(strategy, 5)
    examples = max(5, int(len(documents) / seconds * budget))
    documents, seconds = run_given(strategy, examples)
    return len(documents) / seconds, documents


def summary(per_second: float, documents: list[Any]) -> dict[str, Any]:
    """What a contender reports: rate, count, how many pass ``validate_query_model``, LLMs per document."""
    from qmcontract import validate_query_model  # noqa: PLC0415

    valid = sum(not validate_query_model(document) for document in documents)
    llms = [len(d["models"]) for d in documents if isinstance(d, dict) and isinstance(d.get("models"), list)]
    return {
        "per_second": per_second,
        "documents": len(documents),
        "valid": valid,
        "llms": sum(llms) / len(llms) if llms else 0.0,
    }


def hypothesis_jsonschema_worker(budget: float) -> None:
    """Runs inside the hypothesis-jsonschema venv; prints one JSON summary."""
    import hypothesis  # noqa: PLC0415
    from hypothesis_jsonschema import from_schema  # noqa: PLC0415

    per_second, documents = measure_given(from_schema(response_schema()), budget)
    print(json.dumps({**summary(per_second, documents), "hypothesis": hypothesis.__version__}))


# --- the contenders ----------------------------------------------------------------------------------


def row_from(label: str, figures: dict[str, Any], note: str = "") -> Row:
    return Row(label, figures["per_second"], figures["documents"], figures["valid"], figures["llms"], note)


def ours(budget: float) -> Row:
    from qmcontract.strategies import query_models  # noqa: PLC0415

    return row_from("query_models() in @given", summary(*measure_given(query_models(), budget)))


def schemathesis_engine(budget: float) -> Row:
    import jsonschema_rs  # noqa: PLC0415
    from schemathesis.core.jsonschema import CANONICALIZE_DRAFT_BY_VALIDATOR  # noqa: PLC0415
    from schemathesis.generation.jsonschema.builder import build  # noqa: PLC0415
    from schemathesis.specs.openapi.formats import get_default_format_strategies  # noqa: PLC0415

    draft = CANONICALIZE_DRAFT_BY_VALIDATOR[jsonschema_rs.Draft202012Validator]
    strategy = build(response_schema(), draft=draft, formats=get_default_format_strategies())
    label = f"schemathesis {version('schemathesis')} generator"
    return row_from(label, summary(*measure_given(strategy, budget)))


def _venv_python() -> Path:
    return HJ_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _core_requirements() -> list[str]:
    """qmcontract's own dependencies, minus hypothesis (pinned instead) and schemathesis (not needed)."""
    found = []
    for requirement in requires("qmcontract") or []:
        if "extra ==" in requirement:
            continue
        name = requirement.split(";")[0].split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip()
        if name.lower() not in ("hypothesis", "schemathesis"):
            found.append(requirement)
    return found


def ensure_hj_venv() -> Path:
    """The hypothesis-jsonschema venv, (re)created when its pins changed."""
    wanted = "\n".join([*HJ_PINS, *_core_requirements()])
    marker = HJ_VENV / "qmcontract-pins.txt"
    python = _venv_python()
    if python.exists() and marker.exists() and marker.read_text(encoding="utf-8") == wanted:
        return python
    shutil.rmtree(HJ_VENV, ignore_errors=True)
    print(f"creating {HJ_VENV.relative_to(ROOT)} ({', '.join(HJ_PINS)}) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(HJ_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *wanted.splitlines()], check=True, capture_output=True, text=True)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True, capture_output=True, text=True)
    marker.write_text(wanted, encoding="utf-8")
    return python


def hypothesis_jsonschema(budget: float) -> Row:
    label = "hypothesis-jsonschema 0.23.1 from_schema"
    try:
        python = ensure_hj_venv()
        completed = subprocess.run(
            [str(python), str(Path(__file__).resolve()), "--hj-worker", str(budget)],
            capture_output=True,
            text=True,
            check=True,
            cwd=WORK,
            timeout=budget * 10 + 120,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        print(f"{label}: unavailable: {detail.strip().splitlines()[-1:]}", file=sys.stderr)
        return Row(label, 0.0, 0, 0, 0.0, "unavailable")
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    return row_from(label, figures, f"hypothesis {figures['hypothesis']}")


def generate_library(budget: float) -> Row:
    """``generate_documents`` consumed as the CLI consumes it (nothing kept); validity of the first 2,000."""
    from qmcontract.generate import generate_documents  # noqa: PLC0415

    def timed(count: int) -> float:
        start = time.perf_counter()
        for _ in generate_documents(count, seed=0):
            pass
        return time.perf_counter() - start

    count = max(200, int(200 / timed(200) * budget))
    per_second = count / timed(count)
    sample = [item.document for item in generate_documents(min(count, 2000), seed=0)]
    note = f"{count:,} docs; validity of the first {len(sample):,}"
    return row_from("qmcontract generate (library)", summary(per_second, sample), note)


def _console_script() -> str:
    beside = Path(sys.executable).parent / "qmcontract"
    return str(beside) if beside.is_file() else shutil.which("qmcontract") or "qmcontract"


def _children_cpu() -> float:
    """CPU seconds used so far by finished child processes (0 where the platform does not say)."""
    try:
        import resource  # noqa: PLC0415 (POSIX only)
    except ImportError:  # pragma: no cover
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def generate_cli(fmt: str, count: int, sample: list[Any]) -> Row:
    """``qmcontract generate`` end to end (process start-up included) into /dev/null.

    Its documents are those of ``generate_documents(count, seed=0)``: validity is checked on ``sample``,
    their first ones. The note gives the rate by the child's CPU time too, which other load on the
    machine does not lower.
    """
    command = [_console_script(), "generate", "--count", str(count), "--format", fmt, "--no-progress"]
    with open(os.devnull, "wb") as sink:
        cpu, start = _children_cpu(), time.perf_counter()
        subprocess.run(command, stdout=sink, check=True)
        seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu
    by_cpu = f"; by CPU time {count / cpu:,.0f}/s" if cpu > 0 else ""
    note = f"{count:,} docs, start-up incl.{by_cpu}; validity of the first {len(sample):,}"
    return row_from(f"qmcontract generate --format {fmt} (CLI)", summary(count / seconds, sample), note)


def cli_rows(budget: float, library: Row) -> list[Row]:
    """Both output formats, each sized to the time budget from the library's rate."""
    from qmcontract.generate import generate_documents  # noqa: PLC0415

    count = max(500, int(library.per_second * budget))
    sample = [item.document for item in generate_documents(min(count, 2000), seed=0)]
    return [generate_cli(fmt, count, sample) for fmt in ("jsonl", "json")]


# --- the table --------------------------------------------------------------------------------------


def render(rows: list[Row], budget: float) -> str:
    schemathesis_rate = next(row.per_second for row in rows if row.label.startswith("schemathesis"))
    header = f"{'generator':<44} {'docs/s':>9} {'valid %':>8} {'LLMs/doc':>9} {'vs schemathesis':>16}  note"
    lines = [header, "-" * len(header)]
    for row in rows:
        ratio = f"{row.per_second / schemathesis_rate:.1f}x" if schemathesis_rate and row.documents else "-"
        rate = f"{row.per_second:,.0f}" if row.per_second >= 100 else f"{row.per_second:.1f}"
        lines.append(
            f"{row.label:<44} {rate:>9} {row.valid_share:>7.1f}% {row.llms:>9.1f} {ratio:>16}  {row.note}"
        )
    ours_row = rows[0]
    cli_jsonl = next(row for row in rows if "jsonl" in row.label)
    met_ratio = ours_row.per_second >= GOAL_RATIO * schemathesis_rate and ours_row.valid == ours_row.documents
    met_generate = cli_jsonl.per_second >= GOAL_GENERATE and cli_jsonl.valid_share == 100.0
    lines += [
        "",
        f"goal query_models() >= {GOAL_RATIO:g}x schemathesis with 100% valid:"
        f" {'met' if met_ratio else 'NOT MET'}",
        f"goal qmcontract generate >= {GOAL_GENERATE:,.0f} valid documents/s (CLI, jsonl):"
        f" {'met' if met_generate else 'NOT MET'}",
        f"valid = validate_query_model(doc) finds no violation (metadata presence unchecked); each timed run"
        f" bounded to ~{budget:g} s after warm-up and calibration.",
        f"Python {platform.python_version()} on {platform.machine()}, hypothesis {version('hypothesis')},"
        f" schemathesis {version('schemathesis')}, qmcontract {version('qmcontract')}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="3 s per measurement instead of 10 s")
    parser.add_argument("--hj-worker", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hj_worker is not None:
        hypothesis_jsonschema_worker(args.hj_worker)
        return
    budget = 3.0 if args.quick else 10.0
    WORK.mkdir(parents=True, exist_ok=True)
    os.chdir(WORK)  # hypothesis writes ./.hypothesis; keep it out of the checkout
    steps: list[Callable[[float], Row]] = [ours, schemathesis_engine, hypothesis_jsonschema, generate_library]
    rows = []
    for step in steps:
        rows.append(step(budget))
        print(f"measured {rows[-1].label}", file=sys.stderr)
    rows += cli_rows(budget, rows[-1])
    print(render(rows, budget), flush=True)


if __name__ == "__main__":
    main()
