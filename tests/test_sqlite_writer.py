"""SQLite writers take turns on a lock file beside the database (repository/sqlite_writer.py):
held for exactly the write transaction, given back however it ends, and never a dead end."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator

import pytest

from billing_service import repository
from billing_service.extensions import db
from billing_service.repository.sqlite_writer import writer_turn
from tests.lifecycle import subscription_event


@pytest.fixture
def lock_file(app) -> Iterator[str]:
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's writers only; PostgreSQL has row locks")
        path = f"{db.engine.url.database}-writer"
    yield path


def _taken_by_someone(path: str) -> bool:
    """Whether another open file (another worker) would have to wait for the turn."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


def test_a_write_transaction_holds_the_turn_and_the_write_lock_then_gives_both_back(app, lock_file):
    with app.app_context():
        with repository.transaction():
            assert _taken_by_someone(lock_file)
            # BEGIN IMMEDIATE: SQLite's write lock is held from the start, not taken on a write.
            assert db.session.connection().connection.dbapi_connection.in_transaction
        assert not _taken_by_someone(lock_file)


def test_the_turn_is_given_back_when_the_transaction_fails(app, lock_file):
    with app.app_context():
        with pytest.raises(RuntimeError), repository.transaction():
            raise RuntimeError("a handler failed")
        assert not _taken_by_someone(lock_file)


def test_an_inner_transaction_keeps_the_outer_ones_turn(app, lock_file):
    with app.app_context():
        with repository.transaction():
            with repository.transaction():
                pass
            assert _taken_by_someone(lock_file)
        assert not _taken_by_someone(lock_file)


def test_a_writer_that_cannot_get_its_turn_goes_ahead_on_sqlites_own_lock(app, lock_file):
    other_worker = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(other_worker, fcntl.LOCK_EX)
    try:
        with app.app_context(), writer_turn(db.session.connection(), busy_seconds=0.01):
            pass  # no turn, no deadlock: SQLite's busy timeout still guards the write
    finally:
        os.close(other_worker)
        with app.app_context():
            db.session.rollback()


def test_webhooks_still_apply_while_writers_take_turns(send_event, subscriber, database, lock_file):
    event = subscription_event("customer.subscription.updated", at=10, cancel_at_period_end=True)
    assert send_event(event).json["outcome"] == "processed"
    assert database.user("u1")["cancel_at_period_end"] is True
    assert not _taken_by_someone(lock_file)
