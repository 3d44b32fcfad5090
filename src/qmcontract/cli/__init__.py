"""The ``qmcontract`` command: a click group of thin commands, one module per command.

Exit codes: 0 success, 1 contract violations found, 2 usage error or unreadable input
(``conformance`` adds 3: nothing failed, but an applicable check was not exercised).
Expected failures print one ``qmcontract: error:`` line on stderr, never a traceback.
"""

from __future__ import annotations

from qmcontract.cli._common import cli, main
from qmcontract.cli.build import build_command
from qmcontract.cli.conformance import conformance_command
from qmcontract.cli.diff import diff_command
from qmcontract.cli.generate import generate_command
from qmcontract.cli.proxy import proxy_command
from qmcontract.cli.serve import serve_command
from qmcontract.cli.traffic import check_traffic_command
from qmcontract.cli.validate import validate_command

for _command in (
    build_command,
    validate_command,
    generate_command,
    serve_command,
    conformance_command,
    diff_command,
    proxy_command,
    check_traffic_command,
):
    cli.add_command(_command)

__all__ = ["cli", "main"]
