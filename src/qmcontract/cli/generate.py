"""``qmcontract generate``: valid or deliberately broken documents, deterministically from a seed."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, Literal

import click
from click.core import ParameterSource

from qmcontract.cli._common import OneLineUsage, check_output_dir, check_output_file, fail, kind_option
from qmcontract.limits import MAX_GENERATE_COUNT
from qmcontract.rules import DOCUMENT_RULES, LLM_RULES

#: Options that shape a Query Model only: a usage error with ``--kind llm``.
_MODEL_ONLY: Final = ("min_llms", "max_llms")


@click.command(
    "generate",
    cls=OneLineUsage,
    short_help="Write valid or deliberately broken documents from a seed",
)
@click.option(
    "--count",
    type=click.IntRange(0, MAX_GENERATE_COUNT),
    default=10,
    show_default=True,
    help=f"How many documents (at most {MAX_GENERATE_COUNT:,}).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Same seed and options: byte-identical output on every machine and Python version.",
)
@kind_option
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
    help="Break exactly this rule in every document; all cycles through every rule. "
    f"Rules: {', '.join(DOCUMENT_RULES)}; with --kind llm: {', '.join(LLM_RULES)}.",
)
@click.option(
    "--given-order-keys",
    is_flag=True,
    help="Keep logit_bias keys in the order drawn [default: ascending numeric order, as a JavaScript "
    "client reads them, so names agree in every language].",
)
@click.option("--format", "fmt", type=click.Choice(["json", "jsonl"]), default="json", show_default=True)
@click.option(
    "--out",
    default="-",
    show_default=True,
    metavar="DIR|-",
    help="A directory, created if missing (json: <name>.json, or <name>.<rule>.json when invalid; jsonl: "
    "documents.jsonl) or - for stdout (json: one array; jsonl: one line each, invalid ones as "
    "{rule, document}).",
)
@click.option(
    "--min-llms", type=click.IntRange(1, 128), default=1, show_default=True, help="LLMs per Query Model."
)
@click.option("--max-llms", type=click.IntRange(1, 128), default=16, show_default=True)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr [default: when --count >= 100 and stderr is a terminal].",
)
@click.pass_context
def generate_command(
    ctx: click.Context,
    *,
    count: int,
    seed: int,
    kind: Literal["model", "llm"],
    weight: Literal["static", "training_table"] | None,
    metadata: bool,
    invalid: str | None,
    given_order_keys: bool,
    fmt: Literal["json", "jsonl"],
    out: str,
    min_llms: int,
    max_llms: int,
    progress: bool | None,
) -> None:
    """Write valid (or deliberately broken) Query Model documents or LLM entries, deterministically
    from --seed.

    \b
    Example:
      qmcontract generate --count 100 --seed 42 --out fixtures/
    """
    from qmcontract.generate import generate_documents, resolve_rules  # noqa: PLC0415

    if kind == "llm":
        for name in _MODEL_ONLY:
            if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT:
                fail(f"generate: --{name.replace('_', '-')} bounds a Query Model's LLMs; not with --kind llm")
    items = generate_documents(
        count,
        seed=seed,
        kind=kind,
        weight=weight,
        metadata=metadata,
        invalid=resolve_rules(invalid, kind),
        min_llms=min_llms if kind == "model" else None,
        max_llms=max_llms if kind == "model" else None,
        portable=not given_order_keys,
    )
    _check_out(out, fmt)
    show = progress if progress is not None else count >= 100 and sys.stderr.isatty()
    written = _write(_progress(items, count) if show else items, fmt, out)
    if out != "-":
        click.echo(f"qmcontract: wrote {written} document(s) to {out}", err=True)


def _check_out(out: str, fmt: str) -> None:
    """Where the documents go, checked before any is made: a directory is created when missing."""
    from qmcontract.generate import JSONL_FILE  # noqa: PLC0415

    if out == "-":
        return
    check_output_dir(Path(out), "--out")
    if fmt == "jsonl":
        check_output_file(Path(out) / JSONL_FILE, "--out")


def _write(items: Iterator[Any], fmt: Literal["json", "jsonl"], out: str) -> int:
    """Write the documents; a reader that stops early (``| head``) ends the run quietly."""
    from qmcontract.generate import write_generated  # noqa: PLC0415

    stdout = sys.stdout.buffer
    try:
        written = write_generated(items, fmt=fmt, out=out, stdout=stdout)
        stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at /dev/null so that flush cannot fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    return written


def _progress(items: Iterator[Any], total: int) -> Iterator[Any]:
    """The items, advancing a progress bar on stderr (never stdout) as they are consumed."""
    with click.progressbar(length=total, label="generating", file=sys.stderr) as bar:
        for item in items:
            yield item
            bar.update(1)
