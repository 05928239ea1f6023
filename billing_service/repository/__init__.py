"""Every SQL statement the service runs lives in this package; it also owns the transaction.

Routes and webhook handlers call these functions and never touch ``db.session`` themselves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from billing_service.extensions import db


def commit() -> None:
    db.session.commit()


def rollback() -> None:
    db.session.rollback()


def insert_unless_present(model: type[db.Model], values: dict[str, Any], key: str) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when this call inserted the row.

    Used where two requests may race to create the same row (a user's first request, a redelivered
    event): the database, not a read-then-write in Python, decides who wins.
    """
    dialect = db.session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    statement = (
        insert(model.__table__)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[key])
        .returning(model.__table__.c[key])
    )
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT whose defaults run in Python.
    return db.session.execute(statement).first() is not None
