"""``qmcontract diff``: the same requests to two servers, every difference under the rule it touches."""

from __future__ import annotations

import sys

import click

from qmcontract.cli._common import (
    OneLineUsage,
    ReportPaths,
    header_option,
    header_pair,
    report_options,
    request_timeout_option,
)


@click.command("diff", cls=OneLineUsage, short_help="Compare two servers' answers, rule by rule.")
@click.argument("url_a")
@click.argument("url_b")
@click.option(
    "--slug",
    "slugs",
    multiple=True,
    metavar="NAME",
    help="A Query Model to compare besides those either server lists (repeatable).",
)
@click.option(
    "--token-env",
    metavar="VAR",
    help="Environment variable holding an API token both servers accept, for me=true (never printed).",
)
@click.option(
    "--metadata",
    is_flag=True,
    help="Compare usage figures too: metadata fields, global totals, lists ordered by a figure.",
)
@header_option("Send this header with every request to both servers (repeatable).")
@request_timeout_option
@report_options
def diff_command(
    *,
    url_a: str,
    url_b: str,
    slugs: tuple[str, ...],
    token_env: str | None,
    metadata: bool,
    headers: tuple[str, ...],
    request_timeout: float,
    reports: ReportPaths,
) -> None:
    """Send the same requests to the servers at URL_A and URL_B and report every difference.

    The requests: every name either server lists (every page), with and without metadata, and
    the conformance probes (unknown and malformed names, every parameter's boundary cases, the
    POST routes). Answers are compared by status, media type, error code, and document as a
    JSON value (key order and 1 against 1.0 do not count); usage figures only with --metadata.
    Each difference is shown under the rule it touches, with a curl line for each server
    (tokens redacted).

    \b
    Examples:
      qmcontract diff http://127.0.0.1:8000 https://api.example.test
      qmcontract diff https://staging.example.test https://api.example.test \\
          --token-env OBJECTIVEAI_API_KEY --metadata --html diff.html
    \b
    Exit 0: no difference; 1: the servers differ; 2: usage error or unreachable server.
    """
    from qmcontract.conformance.diff import DiffOptions, run_diff  # noqa: PLC0415
    from qmcontract.report.text import show  # noqa: PLC0415

    options = DiffOptions(
        url_a=url_a,
        url_b=url_b,
        slugs=slugs,
        token_env=token_env,
        metadata=metadata,
        headers=tuple(header_pair(text) for text in headers),
        request_timeout=request_timeout,
    )
    report = run_diff(options, progress=lambda line: click.echo(line, err=True))
    show(report)
    reports.write(report)
    sys.exit(report.exit_code)
