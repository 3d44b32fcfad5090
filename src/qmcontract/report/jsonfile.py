"""The JSON report: everything the run found, for machines."""

from __future__ import annotations

import json
from pathlib import Path

from qmcontract.report.model import Report


def write_json(report: Report, path: Path) -> None:
    """Write the report as indented UTF-8 JSON."""
    path.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
