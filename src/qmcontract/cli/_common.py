"""What every command shares: the group, one-line errors, exit codes, output-path checks."""

from __future__ import annotations

import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any, Final, NoReturn

import click

from qmcontract import __version__
from qmcontract.errors import QmContractError

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


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="qmcontract")
