"""`python3 dev.py fetch-stripe-spec` gets Stripe's reference files, pinned and checksummed, and
says in one line when it cannot (offline); the suite then finds them in the cache."""

from __future__ import annotations

import functools
import hashlib
import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import stripe_reference_files
from tests.served import free_port
from tests.stripe_reference_files import ReferenceFile

ROOT = Path(__file__).resolve().parent.parent
SPEC = b'{"openapi": "3.0.0", "paths": {}}'
FIXTURES = b'{"resources": {}}'


def _pinned(name: str, content: bytes, commit: str | None = "abc1234") -> ReferenceFile:
    return ReferenceFile(
        name, f"openapi/{name}", commit, hashlib.sha256(content).hexdigest(), f"test {name}"
    )


@pytest.fixture
def mirror(tmp_path) -> Iterator[tuple[str, Path, list[str]]]:
    """A local web server laid out like Stripe's repository: {base}/{commit}/openapi/{name}."""
    root = tmp_path / "mirror"
    (root / "abc1234" / "openapi").mkdir(parents=True)
    requested: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            requested.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", root / "abc1234" / "openapi", requested
    server.shutdown()
    server.server_close()


def test_fetch_saves_the_pinned_files_once_their_checksums_match(mirror, tmp_path, monkeypatch):
    base, served, requested = mirror
    (served / "spec3.json").write_bytes(SPEC)
    (served / "fixtures3.json").write_bytes(FIXTURES)
    monkeypatch.setattr(
        stripe_reference_files,
        "FILES",
        (_pinned("spec3.json", SPEC), _pinned("fixtures3.json", FIXTURES)),
    )
    cache = tmp_path / "cache"

    assert stripe_reference_files.fetch(cache, base_url=base) == []
    assert (cache / "spec3.json").read_bytes() == SPEC
    assert (cache / "fixtures3.json").read_bytes() == FIXTURES
    assert (cache / "spec3.json").stat().st_mode & 0o777 == 0o644
    assert len(requested) == 2

    # Files already in place (and right) are not downloaded again.
    assert stripe_reference_files.fetch(cache, base_url=base) == []
    assert len(requested) == 2


def test_a_file_whose_checksum_differs_is_refused_and_not_saved(mirror, tmp_path, monkeypatch):
    base, served, _ = mirror
    (served / "spec3.json").write_bytes(SPEC + b" ")
    monkeypatch.setattr(stripe_reference_files, "FILES", (_pinned("spec3.json", SPEC),))
    cache = tmp_path / "cache"

    [problem] = stripe_reference_files.fetch(cache, base_url=base)

    assert problem.startswith("spec3.json: ")
    assert f"expected {hashlib.sha256(SPEC).hexdigest()}" in problem
    assert list(cache.iterdir()) == []


def test_a_file_without_a_pinned_commit_is_reported_not_guessed(mirror, tmp_path, monkeypatch):
    base, _, requested = mirror
    monkeypatch.setattr(
        stripe_reference_files, "FILES", (_pinned("fixtures3-2026.json", FIXTURES, None),)
    )
    [problem] = stripe_reference_files.fetch(tmp_path / "cache", base_url=base)
    assert problem.startswith("fixtures3-2026.json: no pinned download")
    assert requested == []


def test_offline_the_command_says_so_in_one_line_and_fails(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [sys.executable, "dev.py", "fetch-stripe-spec", str(tmp_path / "cache")],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "STRIPE_OPENAPI_BASE_URL": dead},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Offline? Stripe's reference files were not fetched: cannot reach ")
    assert result.stdout == ""


def test_the_suite_finds_the_fetched_files_when_shared_is_absent(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "spec3.json").write_bytes(SPEC)
    monkeypatch.delenv("STRIPE_OPENAPI_DIR", raising=False)
    monkeypatch.setattr(stripe_reference_files, "SHARED_DIR", tmp_path / "no-shared")
    monkeypatch.setattr(stripe_reference_files, "CACHE_DIR", cache)
    assert stripe_reference_files.find_dir() == cache


def test_the_pins_are_the_files_the_suite_runs_on(openapi_dir):
    absent = [
        file.name
        for file in stripe_reference_files.FILES
        if not (openapi_dir / file.name).is_file()
    ]
    for file in stripe_reference_files.FILES:
        if file.name not in absent:
            assert stripe_reference_files.sha256_of(openapi_dir / file.name) == file.sha256, (
                file.name
            )
    if absent:  # only fixtures3-2026.json may be: openapi_dir requires the others
        raise stripe_reference_files.ReferenceFilesMissing(
            stripe_reference_files.missing_message(absent[0])
        )
