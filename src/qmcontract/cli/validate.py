"""``qmcontract validate``: response documents against every document rule."""

from __future__ import annotations

import sys

import click

from qmcontract.cli._common import EXIT_VIOLATIONS, OneLineUsage
from qmcontract.errors import Violation, shown_pointer
from qmcontract.inputs import STDIN, load_json_or_yaml
from qmcontract.validate import validate_query_model


@click.command("validate", cls=OneLineUsage)
@click.argument("source", metavar="FILE|-")
@click.option(
    "--metadata/--no-metadata",
    default=None,
    help="Whether the response was requested with metadata=true (default: do not check presence).",
)
def validate_command(source: str, metadata: bool | None) -> None:
    """Check a response document against every document rule; exit 1 on violations.

    \b
    Example:
      qmcontract validate doc.json --no-metadata
    """
    name = "<stdin>" if source == STDIN else source
    document = load_json_or_yaml(source)
    violations = validate_query_model(document, metadata=metadata)
    for violation in violations:
        click.echo(_violation_line(violation))
    if violations:
        click.echo(f"{name}: {len(violations)} violation(s)", err=True)
        sys.exit(EXIT_VIOLATIONS)
    click.echo(f"{name}: valid", err=True)


def _violation_line(violation: Violation) -> str:
    return f"{shown_pointer(violation.path)}  {violation.rule}  {violation.message}"
