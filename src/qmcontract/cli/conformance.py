"""``qmcontract conformance``: the verdict on a server, rule by rule."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from qmcontract.cli._common import EXIT_OK, EXIT_VIOLATIONS, OneLineUsage
from qmcontract.extras import ensure_extra


@click.command("conformance", cls=OneLineUsage)
@click.argument("url", required=False)
@click.option(
    "--slug",
    "slugs",
    multiple=True,
    metavar="NAME",
    help="An existing Query Model (repeatable) [default: GET /query_models of the server].",
)
@click.option("--token-env", metavar="VAR", help="Environment variable holding an API token (never printed).")
@click.option(
    "--max-examples",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="schemathesis examples per generation mode.",
)
@click.option("--seed", type=int, default=None, help="Seed of the generated requests [default: random].")
@click.option("--junit-xml", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML here.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a JSON report here.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Threads sending the probes."
)
def conformance_command(
    *,
    url: str | None,
    slugs: tuple[str, ...],
    token_env: str | None,
    max_examples: int,
    seed: int | None,
    junit_xml: Path | None,
    report_path: Path | None,
    workers: int,
) -> None:
    """Check a server of GET /query_models/{slug} rule by rule [default URL: the embedded mock server].

    Exit 0 when every rule holds, 1 on violations, 2 on a usage error or an unreachable server.
    """
    ensure_extra("conformance", "qmcontract conformance")
    from qmcontract.conformance.runner import (  # noqa: PLC0415 (schemathesis loads only here)
        ConformanceOptions,
        run_conformance,
        scratch_hypothesis_storage,
        show_result,
    )

    options = ConformanceOptions(url, slugs, token_env, max_examples, seed, junit_xml, workers)
    with scratch_hypothesis_storage():
        result = run_conformance(options, progress=lambda line: click.echo(line, err=True))
    show_result(result)
    if report_path is not None:
        result.write_json(report_path)
    sys.exit(EXIT_OK if result.ok else EXIT_VIOLATIONS)
