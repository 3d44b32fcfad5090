"""``qmcontract generate``: valid or deliberately broken documents, deterministically from a seed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any, Literal

import click

from qmcontract.cli._common import OneLineUsage


@click.command("generate", cls=OneLineUsage)
@click.option(
    "--count", type=click.IntRange(min=0), default=10, show_default=True, help="How many documents."
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Same seed and options: byte-identical output on every machine and Python version.",
)
@click.option(
    "--weight",
    type=click.Choice(["static", "training_table"]),
    default=None,
    help="Weight type [default: either].",
)
@click.option("--metadata", is_flag=True, help="Add the nine metadata fields of a metadata=true response.")
@click.option(
    "--invalid",
    metavar="RULE|all",
    help="Break exactly this document rule in every document; all cycles through every rule.",
)
@click.option("--format", "fmt", type=click.Choice(["json", "jsonl"]), default="json", show_default=True)
@click.option(
    "--out",
    default="-",
    show_default=True,
    metavar="DIR|-",
    help="A directory (json: <name>.json, or <name>.<rule>.json when invalid; jsonl: documents.jsonl) "
    "or - for stdout (json: one array; jsonl: one line each, invalid ones as {rule, document}).",
)
@click.option("--min-llms", type=click.IntRange(1, 128), default=1, show_default=True)
@click.option("--max-llms", type=click.IntRange(1, 128), default=16, show_default=True)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr [default: when --count >= 100 and stderr is a terminal].",
)
def generate_command(
    *,
    count: int,
    seed: int,
    weight: Literal["static", "training_table"] | None,
    metadata: bool,
    invalid: str | None,
    fmt: Literal["json", "jsonl"],
    out: str,
    min_llms: int,
    max_llms: int,
    progress: bool | None,
) -> None:
    """Write valid (or deliberately broken) Query Model documents, deterministically from --seed."""
    from qmcontract.generate import generate_documents, resolve_rules, write_generated  # noqa: PLC0415

    items = generate_documents(
        count,
        seed=seed,
        weight=weight,
        metadata=metadata,
        invalid=resolve_rules(invalid),
        min_llms=min_llms,
        max_llms=max_llms,
    )
    show = progress if progress is not None else count >= 100 and sys.stderr.isatty()
    stdout = sys.stdout.buffer
    written = write_generated(_progress(items, count) if show else items, fmt=fmt, out=out, stdout=stdout)
    stdout.flush()
    if out != "-":
        click.echo(f"qmcontract: wrote {written} document(s) to {out}", err=True)


def _progress(items: Iterator[Any], total: int) -> Iterator[Any]:
    """The items, advancing a rich progress bar on stderr (never stdout) as they are consumed."""
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import Progress  # noqa: PLC0415

    with Progress(console=Console(stderr=True)) as bar:
        task = bar.add_task("generating", total=total)
        for item in items:
            yield item
            bar.advance(task)
