"""The built wheel carries what an installed toolkit needs without a checkout."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("qmcontract-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_wheel_ships_the_specs_and_the_catalogue(wheel_names: set[str]) -> None:
    assert "qmcontract/_data/openapi.yaml" in wheel_names
    assert "qmcontract/_data/openapi-control.yaml" in wheel_names
    shipped_mocks = {
        name.rsplit("/", 1)[-1] for name in wheel_names if name.startswith("qmcontract/_data/mocks/")
    }
    assert {path.name for path in (ROOT / "mocks").glob("*.yaml")} <= shipped_mocks


def test_wheel_ships_types_the_suite_and_the_entry_points(wheel: Path, wheel_names: set[str]) -> None:
    assert "qmcontract/py.typed" in wheel_names
    assert "qmcontract/conformance/suite/test_conformance.py" in wheel_names
    name = next(name for name in wheel_names if name.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as archive:
        entry_points = archive.read(name).decode()
    assert "qmcontract = qmcontract.cli:main" in entry_points
    assert "[pytest11]\nqmcontract = qmcontract.plugin" in entry_points


def test_wheel_ships_no_tests_or_benchmarks(wheel_names: set[str]) -> None:
    assert not {name for name in wheel_names if name.startswith(("tests/", "benchmarks/", "examples/"))}
