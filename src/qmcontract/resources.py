"""Finds the files the package ships: ``openapi.yaml`` and the ``mocks/`` catalogue.

A wheel carries them under ``qmcontract/_data``. An editable install does not expose
force-included files through ``importlib.resources``, so we fall back to the source
checkout that the package was imported from.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from qmcontract.errors import SpecError

_CHECKOUT_ROOT = Path(__file__).resolve().parents[2]


def shipped_path(name: str) -> Path:
    """Path of a shipped file or folder (``"openapi.yaml"`` or ``"mocks"``)."""
    packaged = resources.files("qmcontract") / "_data" / name
    if packaged.is_file() or packaged.is_dir():
        return Path(str(packaged))
    checkout = _CHECKOUT_ROOT / name
    if checkout.exists():
        return checkout
    raise SpecError(f"{name} is missing: neither packaged with qmcontract nor in a source checkout")


def spec_path() -> Path:
    """The shipped ``openapi.yaml``."""
    return shipped_path("openapi.yaml")


def mocks_path() -> Path:
    """The shipped default catalogue of Query Model definitions."""
    return shipped_path("mocks")
