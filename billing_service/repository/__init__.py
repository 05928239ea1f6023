"""Every SQL statement the service runs lives in this package; it also owns the transaction.

Routes and webhook handlers call these functions and never touch ``db.session`` themselves; they
run their work inside :func:`transaction` and never commit or roll back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ColumnElement, Connection, Executable, Row, literal_column
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from billing_service.extensions import db
from billing_service.repository.sqlite_writer import writer_turn
from billing_service.session import HELD, held_transaction

# Set on the session by read_only(); the session (and this mark) ends with the app context.
_READ_ONLY = "billing_service.read_only"
# SQLite's busy timeout (config.engine_options): how long a writer waits for its turn.
_SQLITE_BUSY_SECONDS = 15


@contextmanager
def transaction() -> Iterator[None]:
    """One unit of work: committed when the block ends, rolled back (:func:`rollback_after_failure`)
    when it raises, whatever it raises.

    It runs on a Core connection of its own, which the session joins if ORM work is done inside
    (``billing_service.session``), unless the request's session is in a transaction already (it
    loaded rows the work goes on with): that one is carried on and committed. A
    :func:`transaction` inside another is part of it: the outer one commits. A request in
    :func:`read_only` mode leaves it first: that ends the autocommit connection, so a row lock
    taken inside is held until the commit.
    """
    held = held_transaction()
    if held is not None:
        with writer_turn(held, busy_seconds=_SQLITE_BUSY_SECONDS):  # keeps the outer one's turn
            yield
        return
    session = _made_session()
    if session is not None and session.info.pop(_READ_ONLY, False):
        session.rollback()
    if session is not None and session.in_transaction():
        with _holding(session.connection()):
            yield
        return
    with db.engine.connect() as held, _holding(held):
        yield


@contextmanager
def _holding(held: Connection) -> Iterator[None]:
    """Run the block in ``held``'s transaction, with this database's writer turn (SQLite);
    commit it (and the session's work in it) at the end, or roll it back."""
    token = HELD.set(held)
    try:
        with writer_turn(held, busy_seconds=_SQLITE_BUSY_SECONDS):
            if not held.in_transaction():
                held.begin()
            try:
                yield
                session = _made_session()
                if session is not None and session.in_transaction():
                    session.commit()  # its own work flushed, its copies expired
                if held.in_transaction():
                    held.commit()
            except BaseException:
                rollback_after_failure()
                raise
    finally:
        HELD.reset(token)


def _made_session() -> Session | None:
    """The request's session if something has made it (a subscription event never does)."""
    return db.session() if db.session.registry.has() else None


def connection() -> Connection:
    """The connection of the transaction in progress (:func:`transaction`), what the prebuilt
    Core statements run on; outside one, the session's."""
    held = held_transaction()
    return held if held is not None else db.session.connection()


def commit() -> None:
    """For scripts and test fixtures that seed rows; the package itself uses :func:`transaction`."""
    db.session.commit()


def discard() -> None:
    """End a read that failed (its connection may be dead), keeping nothing."""
    rollback_after_failure()


def rollback_after_failure() -> None:
    """Roll back after a failure that is being handled.

    When the database dropped the connection while the transaction was open (a restart, a
    failover, pg_terminate_backend), the ROLLBACK fails too; the transaction died with the
    connection, the pool has discarded it, and that second error must not hide the first.
    """
    session = _made_session()
    try:
        if session is not None:
            session.rollback()  # in a transaction(), rolls its connection back too
        held = held_transaction()
        if held is not None:
            held.rollback()
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise


def read_only() -> None:
    """Run this request's statements outside an explicit transaction (PostgreSQL autocommit).

    For a request that only reads one row: that read is consistent on its own, and BEGIN and
    ROLLBACK were two of its three round trips (GET /subscription, bench/results/NOTES.md). A
    write it does anyway (a user's first request) commits statement by statement, which
    ``users.get_or_create`` allows: it commits at once. Call it before any other statement; the
    connection gets its isolation level back when it returns to the pool: :func:`transaction`
    ends this first, so work that needs a transaction (a row lock) gets one. On SQLite, where no
    BEGIN is sent for a read, autocommit would only add work; the mode is only marked.
    """
    db.session.info[_READ_ONLY] = True
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def read_one(statement: Executable, params: dict[str, Any]) -> Row[Any] | None:
    """The first row of one read, on a pooled connection of its own, outside the session: on
    PostgreSQL in autocommit (no BEGIN and ROLLBACK round trips around it), on SQLite with no
    transaction at all. For the hottest read (GET /subscription), where the session's machinery
    (a transaction object, then closing it) cost more than the statement."""
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execution_options(isolation_level="AUTOCOMMIT")
        return connection.execute(statement, params).first()


def forget(model: type[db.Model], key: str) -> None:
    """Expire the session's copy of a row a Core statement just changed, if it holds one, so that
    its next read shows what the database has (the session cannot know what the SQL did)."""
    session = _made_session()
    if session is None or not session.identity_map:
        return  # the webhook's case: its statements load no objects
    held = session.identity_map.get(session.identity_key(model, key))
    if held is not None:
        session.expire(held)


def one_of(column: ColumnElement[str], values: Iterable[str]) -> ColumnElement[bool]:
    """``column IN ('a', 'b')`` with our own constants written into the SQL: ``in_()`` would make
    an expanding parameter, which SQLAlchemy re-renders into the statement on every execution."""
    return column.op("IN", is_comparison=True)(literal_column(sql_list(values)))


def sql_list(values: Iterable[str]) -> str:
    """``('a', 'b')``: our own constants as an SQL list, sorted (the statement's text is the
    same every time). Identifiers only: never text that would need quoting."""
    return "(" + ", ".join(_quoted(value) for value in sorted(values)) + ")"


def sql_constant(value: str) -> ColumnElement[str]:
    """``'a'``: one of our own constants written into the SQL, where a bind parameter would only
    lengthen the statement's text (:func:`sql_list`'s rules)."""
    return literal_column(_quoted(value))


def _quoted(value: str) -> str:
    if not value.isidentifier():  # a programming error
        raise ValueError(f"an SQL constant is an identifier, not {value!r}")
    return f"'{value}'"


def insert_unless_present(model: type[db.Model], values: dict[str, Any], key: str) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when this call inserted the row.

    Used where two requests may race to create the same row (a user's first request, a redelivered
    event): the database, not a read-then-write in Python, decides who wins.
    """
    insert = dialect_insert(db.session.get_bind().dialect.name)
    statement = (
        insert(model.__table__)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[key])
        .returning(model.__table__.c[key])
    )
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT whose defaults run in Python.
    return db.session.execute(statement).first() is not None


def dialect_insert(dialect: str) -> Any:
    """The dialect's ``insert`` construct, which has ON CONFLICT."""
    # Imported on use: a worker loads only its own database's dialect (the other one is 0.6 MB on
    # PostgreSQL, 2.2 MB on SQLite, of every worker's memory).
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise NotImplementedError(f"No INSERT ... ON CONFLICT for the {dialect} dialect")
    return insert
