"""``qmcontract check-traffic``: the verdict on recorded traffic (HAR, VCR cassettes, JSON lines)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from qmcontract.cli._common import OneLineUsage, ReportPaths, fail, report_options

#: The root shown in curl lines when a file does not say where its traffic went.
UNKNOWN_ROOT = "http://api-root.invalid"


@click.command(
    "check-traffic", cls=OneLineUsage, short_help="Check recorded traffic (HAR, cassettes, JSON lines)."
)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--base-url",
    metavar="URL",
    help="The API root of the recorded URLs [default: guessed per file from the first API URL].",
)
@report_options
def check_traffic_command(
    *,
    files: tuple[Path, ...],
    base_url: str | None,
    reports: ReportPaths,
) -> None:
    """Check every exchange of recorded traffic on the API's routes, rule by rule.

    Reads HAR 1.2 files (browser dev tools, mitmproxy, Playwright), VCR.py / pytest-recording
    cassettes (YAML or JSON) and the JSON lines of `qmcontract proxy --record`. Requests to other
    URLs are counted and skipped. Every file is read and checked for its structure before any
    exchange is judged. The stateful rules (stable, ignored-params, metadata-window) compare the
    exchanges of one file that carry a time, within one UTC day.

    \b
    Example:
      qmcontract check-traffic session.har cassettes/test_client.yaml traffic.jsonl --html traffic.html
    \b
    Exit 0: no violation; 1: a rule failed; 2: an unreadable or malformed file, or a usage error.
    """
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        fail(f"--base-url {base_url!r}: expected an http:// or https:// URL")
    from qmcontract.conformance.traffic import TrafficJudge  # noqa: PLC0415 (the checks load only here)
    from qmcontract.recording import RecordingError, decoded  # noqa: PLC0415
    from qmcontract.report.text import show  # noqa: PLC0415
    from qmcontract.traffic_files import open_traffic  # noqa: PLC0415

    started = time.monotonic()
    roots: dict[Path, str | None] = {}
    for path in files:
        try:
            traffic = open_traffic(path, base_url=base_url)
            count = sum(1 for _ in traffic.entries())
        except RecordingError as exc:
            fail(str(exc))
        roots[path] = traffic.base_url
        where = traffic.base_url or "no API URL found"
        click.echo(f"{path}: {traffic.format}, {count} exchanges, API root {where}", err=True)
    judge = TrafficJudge(UNKNOWN_ROOT)
    for path in files:
        try:
            traffic = open_traffic(path, base_url=roots[path])
            judge.start_stream(traffic.base_url or UNKNOWN_ROOT)
            for where, recorded in traffic.entries():
                if recorded is None:
                    judge.outside_root()
                else:
                    judge(decoded(recorded), where)
        except RecordingError as exc:  # the file changed since it was read
            fail(str(exc))
    report = judge.report(
        title="qmcontract check-traffic",
        target=", ".join(str(path) for path in files),
        seconds=time.monotonic() - started,
        settings={"files": len(files), "base_url": base_url or "guessed per file"},
    )
    show(report)
    reports.write(report)
    sys.exit(report.exit_code)
