"""``qmcontract build``: a Query Model (or Query LLM) definition in, the exact response document out."""

from __future__ import annotations

import sys
from typing import Literal

import click

from qmcontract.cli._common import EXIT_VIOLATIONS, OneLineUsage, dump_json
from qmcontract.errors import InvalidDefinition
from qmcontract.inputs import STDIN, load_json_or_yaml
from qmcontract.model import build_query_llm, build_query_model


@click.command(
    "build",
    cls=OneLineUsage,
    short_help="Print the response document a definition builds to",
)
@click.argument("source", metavar="FILE|-")
@click.option(
    "--kind",
    type=click.Choice(["model", "llm"]),
    default="model",
    show_default=True,
    help="A Query Model definition {weight, models} (POST /query_models), or one LLM (POST /query_llms).",
)
def build_command(source: str, kind: Literal["model", "llm"]) -> None:
    """Print the response document a Query Model definition (JSON or YAML) builds to; exit 1 when it
    breaks a rule, one 'file: pointer: rule: message' line per violation on stderr.

    \b
    Example:
      qmcontract build mocks/example1-docs.yaml > doc.json
    """
    definition = load_json_or_yaml(source)
    try:
        document = build_query_model(definition) if kind == "model" else build_query_llm(definition)
    except InvalidDefinition as exc:
        name = "<stdin>" if source == STDIN else source
        for violation in exc.violations:
            click.echo(f"{name}: {violation}", err=True)
        sys.exit(EXIT_VIOLATIONS)
    click.echo(dump_json(document))
