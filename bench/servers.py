"""The processes under load: gunicorn (the real app or the bare ceiling) and the Stripe double."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Every target is served the same way: gunicorn's default sync workers (what docs/deploying.md
# deploys), two of them, one per core. More would only queue on the same two cores and add context
# switches; fewer would leave a core idle. The load generator needs a little CPU as well.
WORKERS = 2
# The interpreter as docs/deploying.md runs gunicorn: -OO leaves docstrings out of every module,
# about 6 MB of each worker; every target (and the cold start, bench/measure.py) gets it.
PRODUCTION_PYTHON = {"PYTHONOPTIMIZE": "2"}


def compile_bytecode() -> None:
    """Write the -OO bytecode of the libraries, the service and the benchmark's own apps, as the
    deploy guide does when it installs the wheel. A worker that compiles a module from source
    keeps megabytes more than one that reads its bytecode (and this machine's
    PYTHONDONTWRITEBYTECODE would have every worker compile again); up-to-date files are kept."""
    libraries = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    ours = [str(ROOT / "billing_service"), str(ROOT / "bench")]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", "-o", "2", *libraries, *ours],
        check=True,
        stdout=subprocess.DEVNULL,
    )


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_gunicorn(
    name: str, wsgi_app: str, env: dict[str, str], work: Path, *, ready: str
) -> Server:
    port = _free_port()
    log = work / f"gunicorn-{name}.log"
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "BILLING_"))}
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(WORKERS),
        "--bind",
        f"127.0.0.1:{port}",
        "--pythonpath",
        str(ROOT / "bench"),
        wsgi_app,
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=clean_env | PRODUCTION_PYTHON | env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, process, f"http://127.0.0.1:{port}", log)
    _wait_until_ready(server, ready)
    return server


def start_stripe_double(work: Path) -> Server:
    log = work / "stripe-double.log"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "stripe_double_server.py")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
    )
    assert process.stdout is not None
    url = process.stdout.readline().decode().strip()
    if not url.startswith("http"):
        process.kill()
        raise RuntimeError(f"The Stripe double did not start: {log.read_text()}")
    return Server("stripe-double", process, url, log)


def worker_rss_mb(server: Server) -> float:
    """The largest resident set of the server's worker processes, in MB (the master excluded)."""
    sizes = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("PPid", "0").strip()) == server.process.pid and "VmRSS" in fields:
            sizes.append(int(fields["VmRSS"].split()[0]) / 1024)
    return round(max(sizes), 1) if sizes else 0.0


def _wait_until_ready(server: Server, path: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited at start:\n{server.log.read_text()}")
        try:
            with urllib.request.urlopen(server.url + path, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # answering, even if with 401
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} did not answer within 60 s") from None
            time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
