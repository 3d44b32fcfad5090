"""``qmcontract validate``: response documents (or LLM entries) against every rule that applies.

Sources are files, directories (every ``.json``, ``.yaml``, ``.yml`` and ``.jsonl`` file in them,
in name order), or ``-`` for standard input. A ``.jsonl`` file holds one JSON document per line,
each reported as ``file:line``; standard input is read as JSON lines when its first line is a
whole JSON value and more lines follow, else as one JSON or YAML document. An unreadable source
(or line) is one ``qmcontract: error:`` line; the others are still checked, and the exit code is
then 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import click

from qmcontract.cli._common import (
    EXIT_OK,
    EXIT_USAGE,
    EXIT_VIOLATIONS,
    OneLineUsage,
    dump_json,
    kind_option,
)
from qmcontract.errors import InputError, Violation, shown_pointer
from qmcontract.inputs import STDIN, parse_json, parse_json_or_yaml, read_text
from qmcontract.validate import validate_query_llm, validate_query_model

#: The files a directory source contributes.
SUFFIXES: Final = (".json", ".yaml", ".yml", ".jsonl")
STDIN_NAME: Final = "<stdin>"


@dataclass(frozen=True)
class Read:
    """One document read from a source (``value``), or why it could not be read (``error``).

    ``many``: its source holds several documents (a directory, JSON lines), so its lines carry
    ``label``.
    """

    label: str
    value: Any = None
    error: str | None = None
    many: bool = False


@click.command(
    "validate",
    cls=OneLineUsage,
    short_help="Check documents or LLM entries against every rule; exit 1 on violations",
)
@click.argument("sources", nargs=-1, required=True, metavar="FILE|DIR|-...")
@kind_option
@click.option(
    "--metadata/--no-metadata",
    default=None,
    help="Whether the response was requested with metadata=true (default: do not check presence).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one 'pointer  rule  message' line per violation; json: one report on stdout.",
)
def validate_command(
    sources: tuple[str, ...], kind: Literal["model", "llm"], metadata: bool | None, fmt: str
) -> None:
    """Check response documents (files, directories, JSON lines or -) against every rule; exit 1 on
    violations, 2 when a source cannot be read.

    \b
    Example:
      qmcontract validate doc.json fixtures/ more.jsonl --no-metadata
    """
    validate = validate_query_model if kind == "model" else validate_query_llm
    report = _Report(prefixed=len(sources) > 1)
    for read in _reads(sources):
        if read.error is not None:
            report.unreadable(read)
        else:
            report.checked(read, validate(read.value, metadata=metadata), text=fmt == "text")
    if fmt == "json":
        click.echo(dump_json(report.as_json()))
    report.summary()
    sys.exit(report.exit_code())


class _Report:
    """What validation found, printed as it goes (text) or kept for one JSON report."""

    def __init__(self, *, prefixed: bool) -> None:
        self._prefixed = prefixed
        self._entries: list[dict[str, Any]] = []
        self._last: tuple[str, int] | None = None
        self.valid = self.invalid = self.errors = self.violations = 0

    def unreadable(self, read: Read) -> None:
        click.echo(f"qmcontract: error: {read.error}", err=True)
        self.errors += 1
        self._entries.append({"source": read.label, "error": read.error})

    def checked(self, read: Read, violations: list[Violation], *, text: bool) -> None:
        if text:
            prefix = f"{read.label}: " if self._prefixed or read.many else ""
            for violation in violations:
                click.echo(f"{prefix}{shown_pointer(violation.path)}  {violation.rule}  {violation.message}")
        self.valid += not violations
        self.invalid += bool(violations)
        self.violations += len(violations)
        self._last = (read.label, len(violations))
        self._entries.append(
            {
                "source": read.label,
                "valid": not violations,
                "violations": [{"rule": v.rule, "path": v.path, "message": v.message} for v in violations],
            }
        )

    def as_json(self) -> dict[str, Any]:
        """The JSON report: counts, then one entry per document (root pointers are ``""``)."""
        counts = {"valid": self.valid, "invalid": self.invalid, "unreadable": self.errors}
        return {**counts, "violations": self.violations, "documents": self._entries}

    def summary(self) -> None:
        """One line on stderr: the document's verdict, or the counts when there were several."""
        checked = self.valid + self.invalid
        if checked == 0:
            return
        if checked == 1 and self.errors == 0 and self._last is not None:
            label, found = self._last
            click.echo(f"{label}: {f'{found} violation(s)' if found else 'valid'}", err=True)
            return
        unreadable = f", {self.errors} unreadable" if self.errors else ""
        click.echo(
            f"{checked} document(s): {self.valid} valid, {self.invalid} with violations "
            f"({self.violations} violation(s)){unreadable}",
            err=True,
        )

    def exit_code(self) -> int:
        if self.errors:
            return EXIT_USAGE
        return EXIT_VIOLATIONS if self.invalid else EXIT_OK


# --- reading the sources ----------------------------------------------------------------------------


def _reads(sources: tuple[str, ...]) -> Iterator[Read]:
    for source in sources:
        if source == STDIN:
            yield from _stdin()
            continue
        path = Path(source)
        try:
            is_dir = path.is_dir()
        except OSError as exc:
            yield Read(source, error=f"{source}: cannot read: {exc.strerror or exc}")
            continue
        yield from (_directory(path) if is_dir else _file(path, many=False))


def _directory(directory: Path) -> Iterator[Read]:
    try:
        files = sorted(path for path in directory.iterdir() if path.suffix.lower() in SUFFIXES)
    except OSError as exc:
        yield Read(str(directory), error=f"{directory}: cannot list: {exc.strerror or exc}")
        return
    if not files:
        yield Read(str(directory), error=f"{directory}: holds no {', '.join(SUFFIXES)} file")
    for path in files:
        yield from _file(path, many=True)


def _file(path: Path, *, many: bool) -> Iterator[Read]:
    try:
        text = read_text(path)
    except InputError as exc:
        yield Read(str(path), error=str(exc), many=many)
        return
    if path.suffix.lower() == ".jsonl":
        yield from _json_lines(text, str(path))
    else:
        yield _document(text, str(path), many=many)


def _stdin() -> Iterator[Read]:
    try:
        text = read_text(STDIN)
    except InputError as exc:
        yield Read(STDIN_NAME, error=str(exc))
        return
    if _is_json_lines(text):
        yield from _json_lines(text, STDIN_NAME)
    else:
        yield _document(text, STDIN_NAME, many=False)


def _document(text: str, label: str, *, many: bool) -> Read:
    if not text.strip():
        return Read(label, error=f"{label}: empty input, expected a JSON or YAML document", many=many)
    try:
        return Read(label, parse_json_or_yaml(text, source=label), many=many)
    except InputError as exc:
        return Read(label, error=str(exc), many=many)


def _json_lines(text: str, name: str) -> Iterator[Read]:
    """One document per non-blank line, labelled ``name:line``."""
    found = False
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines: U+2028 may sit in a string
        if not line.strip():
            continue
        found = True
        label = f"{name}:{number}"
        try:
            yield Read(label, parse_json(line, source=label), many=True)
        except InputError as exc:
            yield Read(label, error=str(exc), many=True)
    if not found:
        yield Read(name, error=f"{name}: empty input, expected JSON lines")


def _is_json_lines(text: str) -> bool:
    """Standard input holds JSON lines when it is not one JSON text but its first line is one."""
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) < 2:
        return False
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        pass
    else:
        return False
    try:
        json.loads(lines[0])
    except (ValueError, RecursionError):
        return False
    return True
