"""``qmcontract build``: a Query Model definition in, the exact response document out."""

from __future__ import annotations

import sys

import click

from qmcontract.cli._common import EXIT_VIOLATIONS, OneLineUsage, dump_json
from qmcontract.errors import InvalidDefinition
from qmcontract.inputs import STDIN, load_json_or_yaml
from qmcontract.model import build_query_model


@click.command("build", cls=OneLineUsage)
@click.argument("source", metavar="FILE|-")
def build_command(source: str) -> None:
    """Print the response document a Query Model definition builds to.

    \b
    Example:
      qmcontract build mocks/example1-docs.yaml > doc.json
    """
    definition = load_json_or_yaml(source)
    try:
        document = build_query_model(definition)
    except InvalidDefinition as exc:
        name = "<stdin>" if source == STDIN else source
        for violation in exc.violations:
            click.echo(f"{name}: {violation}", err=True)
        sys.exit(EXIT_VIOLATIONS)
    click.echo(dump_json(document))
