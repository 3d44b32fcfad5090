"""The ``qmcontract`` command: thin click commands over the library.

Exit codes: 0 success, 1 contract violations found, 2 usage error or unreadable input.
Expected failures print one clear line on stderr, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, NoReturn

import click

from qmcontract import __version__
from qmcontract.errors import InvalidDefinition, QmContractError, Violation
from qmcontract.inputs import STDIN, load_json_or_yaml
from qmcontract.model import build_query_model
from qmcontract.validate import validate_query_model

EXIT_OK, EXIT_VIOLATIONS, EXIT_USAGE = 0, 1, 2


class _OneLineUsage(click.Command):
    """Reports a bad option as one ``qmcontract: error:`` line (exit 2) instead of a usage block."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            fail(f"{info_name}: {exc.format_message()}")


class _Group(click.Group):
    """Turns our own errors into one line on stderr and exit code 2, for every command."""

    command_class = _OneLineUsage

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


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; loopback unless told.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--catalog", "catalog_dir", metavar="DIR", help="Directory of definitions [default: the mocks]."
)
@click.option(
    "--token",
    "tokens",
    multiple=True,
    metavar="TOKEN",
    help="An accepted authorization (repeatable). With it, metadata=true&me=true and any other value gets "
    "401; without it, any non-empty authorization is accepted.",
)
@click.option("--latency-ms", type=click.IntRange(min=0), default=0, help="Delay added to every API answer.")
@click.option(
    "--error-rate", type=click.FloatRange(0, 1), default=0.0, help="Share of API requests given a 500."
)
@click.option("--seed", type=int, default=None, help="Seed of the --error-rate draws.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="warning and above silence the access log.",
)
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="One line per request.")
@click.option("--self-check", is_flag=True, help="Validate every response sent; log each violation.")
def serve_command(
    *,
    host: str,
    port: int,
    catalog_dir: str | None,
    tokens: tuple[str, ...],
    latency_ms: int,
    error_rate: float,
    seed: int | None,
    workers: int,
    log_level: str,
    access_log: bool,
    self_check: bool,
) -> None:
    """Run the mock server for GET /query_models/{slug} until Ctrl-C or SIGTERM."""
    from qmcontract.server import serve  # noqa: PLC0415 (uvicorn loads only for this command)

    with _stop_quietly():
        serve(
            catalog_dir,
            host=host,
            port=port,
            tokens=tokens,
            latency_ms=latency_ms,
            error_rate=error_rate,
            seed=seed,
            self_check=self_check,
            workers=workers,
            log_level=log_level,
            access_log=access_log,
        )


@contextlib.contextmanager
def _stop_quietly() -> Iterator[None]:
    """A server stopped by SIGINT or SIGTERM has shut down gracefully: exit 0, no traceback."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


@cli.command("conformance")
@click.argument("url", required=False)
@click.option(
    "--slug",
    "slugs",
    multiple=True,
    metavar="NAME",
    help="An existing Query Model (repeatable) [default: GET /query_models of the server].",
)
@click.option("--token-env", metavar="VAR", help="Environment variable holding an API token (never printed).")
@click.option(
    "--max-examples",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="schemathesis examples per generation mode.",
)
@click.option("--seed", type=int, default=None, help="Seed of the generated requests [default: random].")
@click.option("--junit-xml", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML here.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a JSON report here.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Threads sending the probes."
)
def conformance_command(
    *,
    url: str | None,
    slugs: tuple[str, ...],
    token_env: str | None,
    max_examples: int,
    seed: int | None,
    junit_xml: Path | None,
    report_path: Path | None,
    workers: int,
) -> None:
    """Check a server of GET /query_models/{slug} rule by rule [default URL: the embedded mock server].

    Exit 0 when every rule holds, 1 on violations, 2 on a usage error or an unreachable server.
    """
    from qmcontract.conformance.runner import (  # noqa: PLC0415 (schemathesis loads only here)
        ConformanceOptions,
        run_conformance,
        scratch_hypothesis_storage,
        show_result,
    )

    options = ConformanceOptions(url, slugs, token_env, max_examples, seed, junit_xml, workers)
    with scratch_hypothesis_storage():
        result = run_conformance(options, progress=lambda line: click.echo(line, err=True))
    show_result(result)
    if report_path is not None:
        result.write_json(report_path)
    sys.exit(EXIT_OK if result.ok else EXIT_VIOLATIONS)


@cli.command("generate")
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


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="qmcontract")
