"""Two test runs on one PostgreSQL database would see each other's rows (tests/exclusive_database):
the second one waits for the first, and says so, or gives up with a message that names the
database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.exclusive_database import DatabaseBusy, exclusive

pytestmark = pytest.mark.postgres_only
ROOT = Path(__file__).resolve().parent.parent


def test_a_second_run_cannot_take_the_database_this_run_holds(app):
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    busy = pytest.raises(DatabaseBusy, match="another test run has been using postgresql")
    with busy, exclusive(uri, wait_seconds=0):
        pass


@pytest.mark.slow
def test_a_second_pytest_on_the_same_database_waits_then_stops_cleanly(app):
    # Any test that needs the app: its session fixture is where the database is taken.
    needs_the_app = test_a_second_run_cannot_take_the_database_this_run_holds.__name__
    one_test = f"{Path(__file__).relative_to(ROOT)}::{needs_the_app}"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", one_test],
        cwd=ROOT,
        env=os.environ | {"TEST_DATABASE_WAIT_SECONDS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 3, output
    assert "Another test run is using postgresql" in output
    assert "point TEST_DATABASE_URL at another database" in output
