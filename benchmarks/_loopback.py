"""What the HTTP benchmarks (``server.py``, ``proxy.py``) share: tools, servers, wrk and its output.

Servers run on one core and wrk on the other (``taskset``, when there are 2 cores or more), so
every server under test gets the same CPU. ``wrk`` (Debian package) and Prism (npm, into
``benchmarks/.work/``, never committed) are installed when missing.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work"
SPEC = ROOT / "openapi.yaml"
PRISM_VERSION = "5.16.0"
SLUG = "2FgLFqAf8M6MTa6MtGLLwM"
PATHS = {"plain": f"/query_models/{SLUG}", "metadata": f"/query_models/{SLUG}?metadata=true"}
SERVER_CPU, LOAD_CPU = "1", "0"
START_SECONDS = 60.0

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=True, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (apt-get) ...", flush=True)
    run(["apt-get", "update", "-qq"], timeout=300)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "install", "-y", "-qq", "wrk"], timeout=300, env=environment)
    return shutil.which("wrk") or "wrk"


def ensure_prism() -> Path:
    prism = WORK / "node_modules" / ".bin" / "prism"
    if not prism.exists():
        print(f"installing @stoplight/prism-cli@{PRISM_VERSION} (npm) ...", flush=True)
        WORK.mkdir(parents=True, exist_ok=True)
        package = f"@stoplight/prism-cli@{PRISM_VERSION}"
        run(["npm", "install", "--prefix", str(WORK), "--no-audit", "--no-fund", package], timeout=600)
    return prism


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(command: list[str], cpu: str) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", cpu, *command]
    return command


def qmcontract(*args: str) -> list[str]:
    """The ``qmcontract`` command of this interpreter's installation."""
    return [sys.executable, "-c", "from qmcontract.cli import main; main()", *args]


@contextlib.contextmanager
def started(
    name: str, command: list[str], port: int, *, stop: int = signal.SIGTERM
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server on the server core (output to benchmarks/.work/NAME.log), wait until
    ``PATHS['plain']`` answers 200, and stop it with ``stop`` afterwards."""
    WORK.mkdir(parents=True, exist_ok=True)
    with (WORK / f"{name}.log").open("wb") as log:
        process = subprocess.Popen(pinned(command, SERVER_CPU), stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_answering(name, process, f"http://127.0.0.1:{port}{PATHS['plain']}", log.name)
            yield process
        finally:
            process.send_signal(stop)
            try:
                process.wait(timeout=START_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_answering(name: str, process: subprocess.Popen[bytes], url: str, log: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} while starting (see {log})")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not answer within {START_SECONDS:.0f} s (see {log})")
        time.sleep(0.1)


@dataclass(frozen=True)
class Wrk:
    """What one wrk run printed."""

    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    socket_errors: int
    non_2xx: int


def run_wrk(wrk_path: str, url: str, *, seconds: float, connections: int) -> Wrk:
    """One wrk run (one thread, on the load core) against ``url``."""
    command = [wrk_path, "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--latency", "--timeout", "5s", url]
    output = run(pinned(command, LOAD_CPU), timeout=seconds + 60).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)\s*$", output, re.MULTILINE))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Wrk(
        requests=requests,
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        p50_ms=_duration_ms(percentiles["50"]) if requests else math.nan,
        p99_ms=_duration_ms(percentiles["99"]) if requests else math.nan,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


def _duration_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def machine() -> str:
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024**2
    return (
        f"{os.cpu_count()} cores, {memory} GiB, {platform.machine()}, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f} at start"
    )
