"""Stripe's published reference files (OpenAPI spec and example objects) that the test suite's
Stripe double is built from: where they come from, where the tests look for them, and how to fetch
them. Standard library only: ``python3 dev.py fetch-stripe-spec`` runs this before any virtualenv
exists.

The files are third-party and large (4 MB), so they are not committed: CI has them in
``../shared/stripe-openapi``; anyone else fetches them into ``.stripe-openapi/`` (git-ignored), or
points ``STRIPE_OPENAPI_DIR`` at a copy.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / ".stripe-openapi"
SHARED_DIR = ROOT.parent / "shared" / "stripe-openapi"
# Raw files of Stripe's public repository github.com/stripe/openapi (GitHub resolves the short
# commit); STRIPE_OPENAPI_BASE_URL points the fetch at a mirror laid out the same way
# ({base}/{commit}/{path}).
DEFAULT_BASE_URL = "https://github.com/stripe/openapi/raw"
HOW_TO_GET = "run `python3 dev.py fetch-stripe-spec`, or set STRIPE_OPENAPI_DIR"


@dataclass(frozen=True)
class ReferenceFile:
    name: str  # as the tests read it
    path: str  # in stripe/openapi
    commit: str | None  # None: not known, so it cannot be fetched (see ``source``)
    sha256: str
    source: str


# The 2022-04-12 spec and fixtures, the newest full spec available to the suite. Only the short
# commit is known here; the SHA-256 is what makes the pin exact: a file that differs is refused.
SPEC_COMMIT = "e0123a38"
FILES = (
    ReferenceFile(
        "spec3.json",
        "openapi/spec3.json",
        SPEC_COMMIT,
        "0623034db1e5a471369edf211838df328296018cc96dcb4bab0d5c28ab1efc9e",
        f"stripe/openapi openapi/spec3.json @ {SPEC_COMMIT}",
    ),
    ReferenceFile(
        "fixtures3.json",
        "openapi/fixtures3.json",
        SPEC_COMMIT,
        "11e79cee60c8b25d4fd4301d2f909cad0243a083bd6eaea7005ab5f8840c3f40",
        f"stripe/openapi openapi/fixtures3.json @ {SPEC_COMMIT}",
    ),
    ReferenceFile(
        "fixtures3-2026.json",
        "openapi/fixtures3.json",
        None,
        "41486e14a5b930447f53ecc4e71e34e3184462ba3d18212a39d4a40f70eaba44",
        # Its commit is not known here, so the fetch cannot pin it; the checksum still does.
        "stripe/openapi openapi/fixtures3.json as published on 2026-07-29, commit not pinned yet",
    ),
)


class ReferenceFilesMissing(FileNotFoundError):
    """A test needs a reference file this machine does not have."""


class Unreachable(OSError):
    """The download site cannot be reached (offline, DNS, refused)."""


def find_dir() -> Path | None:
    """The directory holding ``spec3.json``: STRIPE_OPENAPI_DIR when set, else ../shared, else the
    fetched cache; None when there is none."""
    configured = os.environ.get("STRIPE_OPENAPI_DIR")
    candidates = [Path(configured)] if configured else [SHARED_DIR, CACHE_DIR]
    return next((path for path in candidates if (path / "spec3.json").is_file()), None)


def missing_message(name: str = "spec3.json") -> str:
    """One line for a test that cannot run without ``name``."""
    if name == "spec3.json":
        return f"needs Stripe's published OpenAPI spec: {HOW_TO_GET}"
    file = next(file for file in FILES if file.name == name)
    if file.commit is None:
        return (
            f"needs Stripe's {name} ({file.source}): put it in {CACHE_DIR.name}/ "
            "or set STRIPE_OPENAPI_DIR"
        )
    return f"needs Stripe's {name} ({file.source}): {HOW_TO_GET}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(target: Path = CACHE_DIR, base_url: str | None = None, timeout: float = 30) -> list[str]:
    """Download every pinned file missing (or wrong) in ``target``, verifying its SHA-256; return
    the problems, one line each (empty when every file is in place). Raises Unreachable when the
    site cannot be reached at all."""
    base = (base_url or os.environ.get("STRIPE_OPENAPI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    target.mkdir(parents=True, exist_ok=True)
    problems = []
    for file in FILES:
        destination = target / file.name
        if destination.is_file() and sha256_of(destination) == file.sha256:
            continue
        if file.commit is None:
            problems.append(f"{file.name}: no pinned download ({file.source}); put it in {target}")
            continue
        url = f"{base}/{file.commit}/{file.path}"
        problem = _download(url, destination, file.sha256, timeout)
        if problem:
            problems.append(f"{file.name}: {problem}")
        else:
            print(f"{file.name}: fetched from {url}, SHA-256 verified")
    return problems


def _download(url: str, destination: Path, sha256: str, timeout: float) -> str | None:
    # Into a temporary file first: a half-downloaded or wrong file never takes the real name.
    with tempfile.NamedTemporaryFile(dir=destination.parent, delete=False) as partial:
        try:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    while block := response.read(1 << 20):
                        partial.write(block)
            except urllib.error.HTTPError as error:
                return f"{url} answered {error.code} {error.reason}"
            except (urllib.error.URLError, OSError) as error:
                reason = getattr(error, "reason", None) or error
                raise Unreachable(f"cannot reach {url} ({reason})") from None
            partial.close()
            actual = sha256_of(Path(partial.name))
            if actual != sha256:
                return f"{url} has SHA-256 {actual}, expected {sha256}; not saved"
            os.chmod(partial.name, 0o644)  # a temporary file is private; these are not
            os.replace(partial.name, destination)
            return None
        finally:
            Path(partial.name).unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else CACHE_DIR
    try:
        problems = fetch(target)
    except Unreachable as error:
        print(f"Offline? Stripe's reference files were not fetched: {error}", file=sys.stderr)
        return 1
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"Stripe's reference files are in {target}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
