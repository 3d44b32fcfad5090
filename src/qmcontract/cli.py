"""The ``qmcontract`` command: thin click commands over the library.

Exit codes: 0 success, 1 contract violations found, 2 usage error or unreadable input.
Expected failures print one clear line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

from qmcontract import __version__
from qmcontract.errors import InvalidDefinition, QmContractError, Violation
from qmcontract.inputs import STDIN, load_json_or_yaml
from qmcontract.model import build_query_model
from qmcontract.validate import validate_query_model

EXIT_OK, EXIT_VIOLATIONS, EXIT_USAGE = 0, 1, 2


class _Group(click.Group):
    """Turns our own errors into one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except QmContractError as exc:
            fail(str(exc))


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one error line to stderr and exit."""
    click.echo(f"qmcontract: error: {message}", err=True)
    sys.exit(code)


def _source_name(source: str) -> str:
    return "<stdin>" if source == STDIN else source


def dump_json(value: Any) -> str:
    """JSON as the API writes it: UTF-8, key order kept."""
    return json.dumps(value, ensure_ascii=False, indent=2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qmcontract")
def cli() -> None:
    """Contract tests, fixtures and a mock server for ObjectiveAI's GET /query_models/{slug}."""


@cli.command()
@click.argument("source", metavar="FILE|-")
def build(source: str) -> None:
    """Print the response document a Query Model definition builds to."""
    definition = load_json_or_yaml(source)
    try:
        document = build_query_model(definition)
    except InvalidDefinition as exc:
        for violation in exc.violations:
            click.echo(f"{_source_name(source)}: {violation}", err=True)
        sys.exit(EXIT_VIOLATIONS)
    click.echo(dump_json(document))


@cli.command()
@click.argument("source", metavar="FILE|-")
@click.option(
    "--metadata/--no-metadata",
    default=None,
    help="Whether the response was requested with metadata=true (default: do not check presence).",
)
def validate(source: str, metadata: bool | None) -> None:
    """Check a response document against every document rule; exit 1 on violations."""
    document = load_json_or_yaml(source)
    violations = validate_query_model(document, metadata=metadata)
    for violation in violations:
        click.echo(_violation_line(violation))
    if violations:
        click.echo(f"{_source_name(source)}: {len(violations)} violation(s)", err=True)
        sys.exit(EXIT_VIOLATIONS)
    click.echo(f"{_source_name(source)}: valid", err=True)


def _violation_line(violation: Violation) -> str:
    return f"{violation.path or '/'}  {violation.rule}  {violation.message}"


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="qmcontract")
