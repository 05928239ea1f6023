"""repository.transaction(): one unit of work on one connection, whether its statements are
Core (the webhook's) or ORM (checkout's, the CLI's), committed together or not at all."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from billing_service import repository
from billing_service.extensions import db
from billing_service.models import User
from billing_service.repository import users


def _insert_user(user_id: str) -> None:
    """A row written by a Core statement, as the webhook's statements are."""
    repository.connection().execute(sa.insert(User.__table__).values(id=user_id))


def test_orm_work_sees_and_commits_with_the_core_work_before_it(app, database):
    with app.app_context(), repository.transaction():
        _insert_user("u1")
        user = users.get("u1")  # on another connection it would not see the row yet
        assert user is not None
        users.set_customer(user, "cus_1")
    assert database.user("u1")["stripe_customer_id"] == "cus_1"


def test_a_failure_rolls_back_core_and_orm_work_alike(app, database):
    database.add_user("u1")
    with app.app_context(), pytest.raises(RuntimeError), repository.transaction():
        users.set_customer(users.get("u1"), "cus_1")
        _insert_user("u2")
        raise RuntimeError("a handler failed")
    assert database.user("u1")["stripe_customer_id"] is None
    assert database.user("u2") is None


def test_an_inner_transaction_is_part_of_the_outer_one(app, database):
    with app.app_context(), pytest.raises(RuntimeError), repository.transaction():
        with repository.transaction():
            _insert_user("u1")
        raise RuntimeError("the outer work failed after the inner block")
    assert database.user("u1") is None


def test_rows_loaded_before_the_transaction_are_written_in_it(app, database):
    database.add_user("u1")
    with app.app_context():
        user = users.get("u1")  # the session's transaction, carried on by the one below
        with repository.transaction():
            assert repository.connection() is db.session.connection()
            users.set_customer(user, "cus_1")
            _insert_user("u2")
    assert database.user("u1")["stripe_customer_id"] == "cus_1"
    assert database.user("u2") is not None
