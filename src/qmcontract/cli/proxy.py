"""``qmcontract proxy``: a validating reverse proxy that judges live traffic without changing it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from qmcontract.cli._common import OneLineUsage, ReportPaths, check_output_file, report_options
from qmcontract.extras import ensure_extra


@click.command(
    "proxy", cls=OneLineUsage, short_help="A reverse proxy that checks every exchange it passes on."
)
@click.option(
    "--upstream", required=True, metavar="URL", help="The API root to forward to (the server under test)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; loopback unless told.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option(
    "--record",
    type=click.Path(path_type=Path),
    metavar="FILE.jsonl",
    help="Write every exchange (tokens redacted) as JSON lines, for check-traffic.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.001, 3600),
    default=60.0,
    show_default=True,
    metavar="S",
    help="Seconds to wait for upstream (then 504).",
)
@report_options
def proxy_command(
    *,
    upstream: str,
    host: str,
    port: int,
    record: Path | None,
    timeout: float,
    reports: ReportPaths,
) -> None:
    """Forward every request to --upstream unchanged and check each exchange on the API's routes.

    Answers go back byte for byte as upstream sent them (502 with a contract error body when
    upstream cannot be reached). Each violation is logged on stderr as it is seen: rule, JSON
    pointer, reason and a curl line (tokens redacted). On Ctrl-C or SIGTERM it prints the rule
    table and writes the reports.

    \b
    Example:
      qmcontract proxy --upstream http://127.0.0.1:8000 --port 8080 --record traffic.jsonl --html proxy.html
    \b
    Exit 0: no violation seen; 1: a rule failed; 2: usage error (bad URL, port in use).
    """
    check_output_file(record, "--record")
    ensure_extra("server", "qmcontract proxy")
    from qmcontract.proxy.run import ProxyOptions, run_proxy  # noqa: PLC0415 (uvicorn loads only here)
    from qmcontract.report.text import show  # noqa: PLC0415

    options = ProxyOptions(upstream, host=host, port=port, record=record, timeout=timeout)
    report = run_proxy(options, log=_log)
    show(report)
    reports.write(report)
    sys.exit(report.exit_code)


def _log(line: str) -> None:
    click.echo(line, err=True)
