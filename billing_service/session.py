"""The ORM session, joined to the connection of the write transaction in progress.

``repository.transaction()`` runs on a Core connection of its own: the webhook's statements are
all Core, and the session around them (its transaction object, unit of work and identity map) made
a third of the Python calls the service added to an event over its same-work reference
(bench/results/NOTES.md). ORM work inside such a transaction must run on that same connection, in
that same transaction: on another one it would wait on the row locks its own request holds. So
while the transaction lasts, the session takes its connection for any work it begins, and never
commits it (``rollback_only``): the transaction commits once, when it ends; a rollback of the
session rolls the transaction back too.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import Connection

# The connection repository.transaction() holds, set while its block runs.
HELD: ContextVar[Connection | None] = ContextVar("billing_service.held_connection", default=None)


def held_transaction() -> Connection | None:
    """The connection of the transaction in progress, if one is (its block may have ended the
    transaction early: a commit of the session that owns it)."""
    held = HELD.get()
    return held if held is not None and held.in_transaction() else None


class Session(FlaskSession):
    """Flask-SQLAlchemy's session, on the held connection while a transaction is in progress."""

    def get_bind(self, mapper: Any = None, clause: Any = None, bind: Any = None, **kw: Any) -> Any:
        held = held_transaction()
        if bind is None and held is not None:
            return held
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kw)


SESSION_OPTIONS = {"class_": Session, "join_transaction_mode": "rollback_only"}
