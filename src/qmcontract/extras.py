"""The optional extras, and the one-line error when a feature's extra is missing.

The base install is enough for the core, ``build``/``validate``/``generate`` and the respx
plugin. The rest pulls heavy peers (and their own pytest plugins, which load in every pytest
session), so each lives in an extra::

    qmcontract[strategies]   hypothesis: the hypothesis strategies
    qmcontract[server]       uvicorn: qmcontract serve, running_server, proxy
    qmcontract[conformance]  schemathesis, hypothesis, uvicorn: conformance, diff
    qmcontract[all]          everything
"""

from __future__ import annotations

import importlib.util
from typing import Final

from qmcontract.errors import MissingExtra

#: The importable packages each extra provides.
EXTRAS: Final[dict[str, tuple[str, ...]]] = {
    "strategies": ("hypothesis",),
    "server": ("uvicorn", "httptools"),
    "conformance": ("schemathesis", "hypothesis", "uvicorn", "httptools"),
}


def ensure_extra(extra: str, feature: str) -> None:
    """Raise :class:`MissingExtra` naming the extra to install unless its packages are importable."""
    missing = [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtra(
            f"{feature} needs {', '.join(missing)}: install it with pip install 'qmcontract[{extra}]'"
        )
