"""SQLite: writers take turns, promptly.

SQLite has one write lock per database. A writer that finds it taken sleeps in SQLite's busy
handler for 1, 2, 5, 10, ... up to 100 ms between tries, while the holder, done in a millisecond
or two, serves its next request and takes the lock again: with two gunicorn workers, one waits in
ever longer sleeps (two workers were slower than one, with a p99 in the hundreds of ms). So every
write transaction (``repository.transaction``) first takes its turn on a lock file beside the
database, polled every half millisecond, then starts with ``BEGIN IMMEDIATE``: the write lock is
taken at once, never upgraded from a read half-way (which could deadlock). The turn is given up
when the transaction ends; the kernel gives it up for a worker that dies.

Past ``busy_seconds`` without a turn, the transaction goes ahead without one and SQLite's own
busy timeout applies (a 503 if it too runs out). Writes outside ``transaction()`` (a user's first
request, the CLI) use SQLite's lock alone, as before.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

POLL_SECONDS = 0.0005

# One turn per process at a time (flock locks belong to the open file, which threads share);
# reentrant, for a transaction() inside another, which keeps the outer one's turn.
_in_process = threading.RLock()
_depth = threading.local()
_files: dict[str, int] = {}


@contextmanager
def writer_turn(connection: Connection, *, busy_seconds: float) -> Iterator[None]:
    """Hold this database's writer turn, and its write lock, for the block (SQLite only)."""
    database = connection.engine.url.database
    if connection.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    if not _in_process.acquire(timeout=busy_seconds):
        yield
        return
    outermost = getattr(_depth, "value", 0) == 0
    _depth.value = getattr(_depth, "value", 0) + 1
    try:
        held = outermost and _take_turn(_lock_file(database), busy_seconds)
        try:
            _begin_immediate(connection)
            yield
        finally:
            if held:
                fcntl.flock(_files[database], fcntl.LOCK_UN)
    finally:
        _depth.value -= 1
        _in_process.release()


def _lock_file(database: str) -> int:
    descriptor = _files.get(database)
    if descriptor is None:
        descriptor = os.open(f"{database}-writer", os.O_RDWR | os.O_CREAT, 0o600)
        _files[database] = descriptor
    return descriptor


def _take_turn(descriptor: int, busy_seconds: float) -> bool:
    deadline = time.monotonic() + busy_seconds
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)


def _begin_immediate(connection: Connection) -> None:
    driver = connection.connection.dbapi_connection
    if driver is not None and not driver.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
