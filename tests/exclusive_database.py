"""One test run at a time per PostgreSQL database.

Every test starts from empty tables and reads whole tables back (``database.count(...)``), so two
runs on one database see each other's rows: a user inserted twice, an event count off by the other
run's deliveries. That is how ``test_bad_signatures_are_400_and_change_nothing`` once failed "under
load": a second suite (another checkout, a helper's branch) was running against the same
``TEST_DATABASE_URL``. A run now holds a session-level advisory lock on its database for as long
as it runs; a second run waits for it, saying why, and gives up with a clear message after
``TEST_DATABASE_WAIT_SECONDS`` (900). SQLite runs each use a database file of their own.
``load/run.py`` wipes the same database by default and takes the same lock.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

# Any constant; "billing" in ASCII. Only runs of this suite take it.
LOCK_KEY = 0x62696C6C696E67
# The lock's connection says who it is: a test that drops every connection of the database (a
# simulated failover) spares it, or the lock would go with it.
APPLICATION_NAME = "billing_service test run lock"


class DatabaseBusy(RuntimeError):
    """Another test run held the database for longer than we would wait."""


@contextmanager
def exclusive(
    uri: str, *, wait_seconds: float | None = None, say: Callable[[str], None] = print
) -> Iterator[None]:
    """Hold the database at ``uri`` for this run (no-op for SQLite); ``say`` tells the
    developer when it waits."""
    if not uri.startswith("postgresql"):
        yield
        return
    if wait_seconds is None:
        wait_seconds = float(os.environ.get("TEST_DATABASE_WAIT_SECONDS", "900"))
    engine = sa.create_engine(
        uri, poolclass=NullPool, connect_args={"application_name": APPLICATION_NAME}
    )
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            _acquire(connection, engine.url.render_as_string(), wait_seconds, say)
            try:
                yield
            finally:
                connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
    finally:
        engine.dispose()


def _acquire(
    connection: sa.Connection, where: str, wait_seconds: float, say: Callable[[str], None]
) -> None:
    deadline = time.monotonic() + wait_seconds
    said = False
    while not connection.execute(
        sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}
    ).scalar_one():
        if time.monotonic() >= deadline:
            raise DatabaseBusy(
                f"another test run has been using {where} for over {wait_seconds:.0f} s; "
                "wait for it, or point TEST_DATABASE_URL at another database "
                "(LOAD_DATABASE_URL for load/run.py)"
            )
        if not said:
            say(f"Another test run is using {where}; waiting for it ...")
            said = True
        time.sleep(0.5)
