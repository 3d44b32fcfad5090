"""What every command shares: the group, one-line errors, exit codes, output-path checks."""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar, cast

import click

from qmcontract import __version__
from qmcontract.errors import QmContractError
from qmcontract.wire import HEADER_VALUE, HTTP_TOKEN

if TYPE_CHECKING:
    from qmcontract.report.model import Report

EXIT_OK: Final = 0
EXIT_VIOLATIONS: Final = 1
EXIT_USAGE: Final = 2
CONTEXT_SETTINGS: Final[dict[str, Any]] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one error line to stderr and exit."""
    click.echo(f"qmcontract: error: {message}", err=True)
    sys.exit(code)


class _UsageInOneLine:
    """A usage error (bad option, unknown command) as one ``qmcontract: error:`` line and exit 2."""

    #: Whether the message names the command (a subcommand does; the group is the program itself).
    names_itself = True

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)  # type: ignore[misc,no-any-return]
        except click.UsageError as exc:
            fail(f"{info_name}: {exc.format_message()}" if self.names_itself else exc.format_message())


class OneLineUsage(_UsageInOneLine, click.Command):
    """Reports a bad option as one ``qmcontract: error:`` line (exit 2) instead of a usage block.

    Its summary in ``qmcontract --help`` is its ``short_help``, else the first sentence of its
    help, never cut off with "...".
    """

    def get_short_help_str(self, limit: int = 45) -> str:
        if self.short_help or not self.help:
            return super().get_short_help_str(limit)
        first = inspect.cleandoc(self.help).split("\n\n", 1)[0].replace("\n", " ")
        return first.split(". ", 1)[0].rstrip(".").strip()


class Group(_UsageInOneLine, click.Group):
    """Turns our own errors (and unknown commands) into one line on stderr and exit code 2."""

    command_class = OneLineUsage
    names_itself = False

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except QmContractError as exc:
            fail(str(exc))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            fail(exc.format_message())


@click.group(cls=Group, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="qmcontract")
def cli() -> None:
    """Contract tests, fixtures and a mock server for ObjectiveAI's Query Model API.

    \b
    Start here:
      qmcontract conformance                     check the embedded mock server, rule by rule
      qmcontract conformance https://api.example.test --token-env OBJECTIVEAI_API_KEY
      qmcontract serve                           a mock server on http://127.0.0.1:8000
    """


def dump_json(value: Any) -> str:
    """JSON as the API writes it: UTF-8, key order kept, indented for reading."""
    return json.dumps(value, ensure_ascii=False, indent=2)


def check_output_file(path: Path | None, option: str) -> None:
    """Fail at once (exit 2) when a report file cannot be written: its directory must exist."""
    if path is None:
        return
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        fail(f"{option} {path}: the directory {parent} does not exist")
    if path.is_dir():
        fail(f"{option} {path}: is a directory")


def check_output_dir(path: Path, option: str) -> None:
    """Fail at once (exit 2) unless ``path`` is a writable directory; a missing one is created."""
    if path.exists() and not path.is_dir():
        fail(f"{option} {path}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"{option} {path}: cannot create the directory: {exc.strerror or exc}")
    if not os.access(path, os.W_OK | os.X_OK):
        fail(f"{option} {path}: the directory is not writable")


@dataclass(frozen=True)
class ReportPaths:
    """Where ``--report``, ``--junit-xml`` and ``--html`` write the same report (None: not asked for)."""

    json: Path | None = None
    junit: Path | None = None
    html: Path | None = None

    def check(self) -> None:
        """Fail at once (exit 2) when one of them cannot be written, before any work starts."""
        for path, option in ((self.json, "--report"), (self.junit, "--junit-xml"), (self.html, "--html")):
            check_output_file(path, option)

    def write(self, report: Report) -> None:
        """Write every report asked for, with the writers every command shares."""
        from qmcontract.report.html import write_html  # noqa: PLC0415
        from qmcontract.report.jsonfile import write_json  # noqa: PLC0415
        from qmcontract.report.junit import write_junit  # noqa: PLC0415

        for path, writer in ((self.json, write_json), (self.junit, write_junit), (self.html, write_html)):
            if path is not None:
                writer(report, path)


F = TypeVar("F", bound=Callable[..., Any])


def report_options(command: F) -> F:
    """``--report``, ``--junit-xml`` and ``--html``, handed to the command as one checked ``reports``."""

    @functools.wraps(command)
    def checked(
        *args: Any, report_path: Path | None, junit_xml: Path | None, html_path: Path | None, **kwargs: Any
    ) -> Any:
        reports = ReportPaths(report_path, junit_xml, html_path)
        reports.check()
        return command(*args, reports=reports, **kwargs)

    options = (
        click.option(
            "--report", "report_path", type=click.Path(path_type=Path), help="Write a JSON report here."
        ),
        click.option(
            "--junit-xml",
            type=click.Path(path_type=Path),
            help="Write JUnit XML here (one testcase per rule).",
        ),
        click.option(
            "--html",
            "html_path",
            type=click.Path(path_type=Path),
            help="Write a self-contained HTML report here.",
        ),
    )
    for option in reversed(options):
        checked = option(checked)
    return cast(F, checked)


#: ``--kind``, for the commands that read or write either kind of document.
kind_option = click.option(
    "--kind",
    type=click.Choice(["model", "llm"]),
    default="model",
    show_default=True,
    help="Query Model documents, or LLM entries as GET /query_llms/{name} answers them.",
)


#: ``--request-timeout``, for the commands that send requests to a server under test.
request_timeout_option = click.option(
    "--request-timeout",
    type=click.FloatRange(0.001, 3600),
    default=30.0,
    show_default=True,
    metavar="S",
    help="Seconds to wait for each answer.",
)


def header_option(help_text: str) -> Callable[[F], F]:
    """``-H/--header "NAME: VALUE"`` (repeatable), read with :func:`header_pair`."""
    return click.option("-H", "--header", "headers", multiple=True, metavar='"NAME: VALUE"', help=help_text)


def header_pair(text: str, option: str = "--header") -> tuple[str, str]:
    """A ``"Name: value"`` option as a pair; one line and exit 2 when it is not one."""
    name, colon, value = text.partition(":")
    value = value.strip()
    if not colon or HTTP_TOKEN.fullmatch(name) is None or HEADER_VALUE.fullmatch(value) is None:
        fail(f'{option} {text!r}: expected "Name: value" (an HTTP token, then printable ASCII)')
    return name, value


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="qmcontract")
