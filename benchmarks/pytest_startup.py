"""Start-up cost of a pytest session with qmcontract's base install, against pytest, respx and httpx alone.

Every pytest session of a qmcontract user pays for what the installed package brings along: its
pytest11 plugin, and the pytest plugins of its dependencies. This script measures that cost as a
user sees it:

1. builds qmcontract's wheel from this checkout;
2. makes two fresh virtualenvs: ``qmcontract`` (the wheel's base install, no extras, and pytest) and
   ``peers`` (pytest, respx and httpx only, at the versions the first one resolved);
3. gives each a small repository with one trivial test;
4. times ``python -m pytest -q -p no:cacheprovider`` in each, runs interleaved (one warm-up each,
   then qmcontract, peers, qmcontract, peers...), and prints the medians and their ratio.

Goal: qmcontract's session starts within 1.25x of the peers' (medians of wall time). The CPU time
(user + system) of the sessions is printed too: on a busy machine it moves far less than wall time.
``--check`` exits 1 when the goal is missed.

    python benchmarks/pytest_startup.py [--runs 21] [--work DIR] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 1.25
PYTEST = "pytest>=8.4,<10"
PEERS = ("pytest", "respx", "httpx")
EXTRA_PACKAGES = ("hypothesis", "schemathesis", "uvicorn")
TRIVIAL_TEST = "def test_trivial():\n    assert 1 + 1 == 2\n"
#: Variables that would change which plugins a session loads.
CLEARED = ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")


def run(*command: str | Path, cwd: Path | None = None) -> str:
    """Run a command, fail loudly with its output, return its stdout."""
    completed = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, env=_env(), check=False
    )
    if completed.returncode != 0:
        sys.exit(
            f"pytest_startup: {' '.join(map(str, command))} failed:\n{completed.stdout}{completed.stderr}"
        )
    return completed.stdout


def _env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in CLEARED}


def build_wheel(work: Path) -> Path:
    """qmcontract's wheel, built from this checkout."""
    run(sys.executable, "-m", "build", "--wheel", "--outdir", work / "dist", ROOT)
    (wheel,) = (work / "dist").glob("qmcontract-*.whl")
    return wheel


def make_venv(path: Path, *requirements: str | Path) -> Path:
    """A fresh virtualenv with ``requirements``; returns its python."""
    run(sys.executable, "-m", "venv", path)
    python = path / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", *requirements)
    return python


def installed(python: Path) -> dict[str, str]:
    """Distribution names (lower case) and versions installed in a virtualenv."""
    listing = json.loads(run(python, "-m", "pip", "list", "--format", "json", "--exclude", "pip"))
    return {item["name"].lower(): item["version"] for item in listing}


def site_packages_mb(venv: Path) -> float:
    (site,) = venv.glob("lib/python*/site-packages")
    return sum(file.stat().st_size for file in site.rglob("*") if file.is_file()) / 1e6


def make_repository(path: Path) -> Path:
    """A repository with one trivial test and its own (empty) pytest configuration."""
    path.mkdir(parents=True)
    (path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (path / "test_trivial.py").write_text(TRIVIAL_TEST, encoding="utf-8")
    return path


def session_seconds(python: Path, repository: Path) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one pytest session, start to exit (it must pass)."""
    cpu_before, start = _children_cpu(), time.perf_counter()
    run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=repository)
    return time.perf_counter() - start, _children_cpu() - cpu_before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def plugins_of(python: Path, repository: Path) -> str:
    """The plugins line pytest prints for a session in this environment."""
    output = run(python, "-m", "pytest", "-p", "no:cacheprovider", cwd=repository)
    return next((line for line in output.splitlines() if line.startswith("plugins:")), "plugins: (none)")


def check_base_install(python: Path) -> None:
    """The qmcontract environment is a base install: no extra's package came along."""
    present = [name for name in EXTRA_PACKAGES if name in installed(python)]
    if present:
        sys.exit(f"pytest_startup: the base install pulled {', '.join(present)}")


Samples = dict[str, list[tuple[float, float]]]


def measure(contenders: dict[str, tuple[Path, Path]], runs: int) -> Samples:
    """(wall, CPU) session times per contender: one warm-up each, then ``runs`` rounds, interleaved."""
    for python, repository in contenders.values():
        session_seconds(python, repository)
    samples: Samples = {name: [] for name in contenders}
    for _ in range(runs):
        for name, (python, repository) in contenders.items():
            samples[name].append(session_seconds(python, repository))
    return samples


def prepare(work: Path) -> dict[str, tuple[Path, Path]]:
    """Both environments and their repositories, ready to time."""
    print("building the wheel and two fresh virtualenvs (this takes a minute)...", flush=True)
    wheel = build_wheel(work)
    ours = make_venv(work / "venv-qmcontract", wheel, PYTEST)
    check_base_install(ours)
    versions = installed(ours)
    peers = make_venv(work / "venv-peers", *(f"{name}=={versions[name]}" for name in PEERS))
    return {
        "qmcontract (base install) + pytest": (ours, make_repository(work / "repo-qmcontract")),
        "pytest + respx + httpx": (peers, make_repository(work / "repo-peers")),
    }


def report(contenders: dict[str, tuple[Path, Path]], samples: Samples) -> float:
    """Print each environment's figures and return the ratio of the wall-time medians."""
    for name, (python, repository) in contenders.items():
        venv = python.parent.parent
        wall, cpu = ([sample[i] for sample in samples[name]] for i in (0, 1))
        print(f"{name}:")
        print(f"  {len(installed(python))} distributions, {site_packages_mb(venv):.1f} MB in site-packages")
        print(f"  {plugins_of(python, repository)}")
        print(
            f"  session wall time: median {statistics.median(wall):.3f} s, min {min(wall):.3f} s, "
            f"max {max(wall):.3f} s; CPU time: median {statistics.median(cpu):.3f} s ({len(wall)} runs)"
        )
    ours, theirs = samples.values()
    cpu_ratio = statistics.median(c for _, c in ours) / statistics.median(c for _, c in theirs)
    fastest = min(w for w, _ in ours) / min(w for w, _ in theirs)
    print(f"qmcontract / peers: CPU-time medians {cpu_ratio:.2f}x, fastest runs {fastest:.2f}x (information)")
    return statistics.median(w for w, _ in ours) / statistics.median(w for w, _ in theirs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="timed sessions per environment")
    parser.add_argument("--work", type=Path, help="scratch directory to keep (default: a temporary one)")
    parser.add_argument("--check", action="store_true", help=f"exit 1 when the ratio is above {GOAL}x")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="qm-startup-"))
    if args.work is not None and work.exists():
        sys.exit(f"pytest_startup: --work {work} exists; give a new directory")
    try:
        contenders = prepare(work)
        samples = measure(contenders, args.runs)
        ratio = report(contenders, samples)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    met = ratio <= GOAL
    print(f"qmcontract / peers (medians): {ratio:.2f}x (goal <= {GOAL}x: {'met' if met else 'MISSED'})")
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
