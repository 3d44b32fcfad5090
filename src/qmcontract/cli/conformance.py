"""``qmcontract conformance``: the verdict on a server of the Query Model API family, rule by rule."""

from __future__ import annotations

import os
import sys
import tempfile

import click

from qmcontract.cli._common import (
    OneLineUsage,
    ReportPaths,
    fail,
    header_option,
    header_pair,
    report_options,
    request_timeout_option,
)
from qmcontract.extras import ensure_extra
from qmcontract.limits import DEFAULT_MAX_EXAMPLES, MAX_EXAMPLES
from qmcontract.rules import ALL_RULES


def _rate(text: str) -> float:
    number = text.removesuffix("/s")
    try:
        value = float(number)
    except ValueError:
        fail(f"--rate-limit {text!r}: expected a number of requests per second, like 50/s")
    if not 0 < value <= 1_000_000:
        fail(f"--rate-limit {text!r}: must be more than 0 requests per second")
    return value


def _rule_ids(text: str | None, option: str) -> tuple[str, ...]:
    if not text:
        return ()
    ids = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [rule for rule in ids if rule not in ALL_RULES]
    if unknown:
        fail(f"{option}: unknown rule id(s) {', '.join(unknown)}; valid: {', '.join(ALL_RULES)}")
    return ids


@click.command(
    "conformance", cls=OneLineUsage, short_help="Check a server rule by rule (default: the embedded mock)."
)
@click.argument("url", required=False)
@click.option(
    "--slug",
    "slugs",
    multiple=True,
    metavar="NAME",
    help="A served Query Model (repeatable) [default: the server's own list].",
)
@click.option(
    "--token-env",
    metavar="VAR",
    help="Environment variable holding an API token, for me=true (never printed).",
)
@header_option("Send this header with every request (repeatable).")
@click.option(
    "--max-examples",
    type=click.IntRange(0, MAX_EXAMPLES),
    default=None,
    help=f"schemathesis examples per operation and mode [default: {DEFAULT_MAX_EXAMPLES}]; 0 skips them.",
)
@click.option(
    "--seed", type=click.IntRange(0, 2**64 - 1), default=None, help="Repeat a run (each run prints its seed)."
)
@click.option(
    "--workers", type=click.IntRange(1, 64), default=4, show_default=True, help="Threads sending the probes."
)
@request_timeout_option
@click.option("--rate-limit", metavar="N/s", help="At most N requests per second.")
@click.option(
    "--rules", "rules_text", metavar="ID,...", help="Check only these rules (the others show as excluded)."
)
@click.option(
    "--exclude-rules", "exclude_text", metavar="ID,...", help="Leave these rules out (they show as excluded)."
)
@report_options
def conformance_command(
    *,
    url: str | None,
    slugs: tuple[str, ...],
    token_env: str | None,
    headers: tuple[str, ...],
    max_examples: int | None,
    seed: int | None,
    workers: int,
    request_timeout: float,
    rate_limit: str | None,
    rules_text: str | None,
    exclude_text: str | None,
    reports: ReportPaths,
) -> None:
    """Check a server of the Query Model API family rule by rule (default: the embedded mock server).

    Prints a table of rules with the requests checked and failed, each failure with its JSON
    pointer, reason and a curl line (tokens redacted), and what did not run.

    \b
    Examples:
      qmcontract conformance
      qmcontract conformance https://api.example.test --token-env OBJECTIVEAI_API_KEY --html report.html
    \b
    Exit 0: every applicable check ran and held; 1: a rule broke;
    2: usage error or unreachable server; 3: nothing broke, but a check did not run.
    """
    ensure_extra("conformance", "qmcontract conformance")
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", tempfile.mkdtemp(prefix="qmcontract-hypothesis-"))
    from qmcontract.conformance.runner import ConformanceOptions, run_conformance  # noqa: PLC0415
    from qmcontract.report.text import show  # noqa: PLC0415

    options = ConformanceOptions(
        base_url=url,
        slugs=slugs,
        token_env=token_env,
        max_examples=DEFAULT_MAX_EXAMPLES if max_examples is None else max_examples,
        seed=seed,
        workers=workers,
        headers=tuple(header_pair(text) for text in headers),
        request_timeout=request_timeout,
        rate_limit=_rate(rate_limit) if rate_limit else None,
        rules=_rule_ids(rules_text, "--rules"),
        exclude_rules=_rule_ids(exclude_text, "--exclude-rules"),
    )
    report = run_conformance(options, progress=lambda line: click.echo(line, err=True))
    show(report)
    reports.write(report)
    sys.exit(report.exit_code)
