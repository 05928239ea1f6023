"""Migrations build exactly the schema the models describe and come back down, on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import downgrade, upgrade

from billing_service.extensions import db

# Every table the models define: a new model is checked here without anyone adding it.
TABLES = set(db.metadata.tables)


def _tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def _stamped() -> list[str]:
    """The revisions alembic_version records (none once downgraded to base)."""
    if "alembic_version" not in _tables():
        return []
    with db.engine.connect() as connection:
        return list(connection.scalars(sa.text("SELECT version_num FROM alembic_version")))


def _revisions_oldest_first() -> list[str]:
    scripts = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


def _differences() -> list[object]:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def _check_constraints() -> dict[str, set[str]]:
    inspector = sa.inspect(db.engine)
    return {
        table: {constraint["name"] for constraint in inspector.get_check_constraints(table)}
        for table in TABLES
    }


def test_the_models_define_the_tables_the_service_needs():
    assert set(db.metadata.tables) == {"users", "plans", "subscriptions", "stripe_events"}


def test_migrated_schema_matches_the_models(app):
    """Columns, types, nullability, primary and foreign keys, unique constraints and indexes of
    every table (Alembic's comparison), then the check constraints it does not compare."""
    with app.app_context():
        assert _tables() == TABLES | {"alembic_version"}
        assert _differences() == []
        assert _check_constraints() == _check_constraints_of_the_models()
        assert _stamped() == [_revisions_oldest_first()[-1]]


def test_every_revision_goes_down_and_back_up(app):
    """One step at a time, so a broken downgrade of any revision, not only the newest, fails;
    back at head the schema is exactly the models' again."""
    with app.app_context():
        revisions = _revisions_oldest_first()
        assert _stamped() == [revisions[-1]]
        for below in reversed([None, *revisions[:-1]]):
            downgrade(revision="-1")
            assert _stamped() == ([below] if below else [])
        assert _tables() & TABLES == set()
        for revision in revisions:
            upgrade(revision="+1")
            assert _stamped() == [revision]
        assert _tables() == TABLES | {"alembic_version"}
        assert _differences() == []
        assert _check_constraints() == _check_constraints_of_the_models()


def _check_constraints_of_the_models() -> dict[str, set[str]]:
    return {
        table.name: {
            constraint.name
            for constraint in table.constraints
            if isinstance(constraint, sa.CheckConstraint)
        }
        for table in db.metadata.tables.values()
    }


REFUSED = [
    "INSERT INTO users (id, subscription_status) VALUES ('x1', 'canceled')",
    "INSERT INTO plans (id, name, tier, amount, currency, features) "
    "VALUES ('p', 'P', 'pro', -1, 'usd', '[]')",
    # A subscription of nobody, and one in a status Stripe's spelling would sneak in.
    "INSERT INTO subscriptions (id, user_id, status, state_as_of) "
    "VALUES ('sub_x', 'nobody', 'active', CURRENT_TIMESTAMP)",
    "INSERT INTO subscriptions (id, user_id, status, state_as_of) "
    "VALUES ('sub_x', 'a', 'canceled', CURRENT_TIMESTAMP)",
    "INSERT INTO stripe_events (id, type, stripe_created_at, status) "
    "VALUES ('evt_x', 't', CURRENT_TIMESTAMP, 'done')",
]


@pytest.mark.parametrize("statement", REFUSED)
def test_the_database_refuses_states_the_code_must_never_write(app, database, statement):
    database.add_user("a", stripe_customer_id="cus_a")
    with pytest.raises(sa.exc.IntegrityError), app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text(statement))


def test_two_users_never_share_a_stripe_customer(database):
    database.add_user("a", stripe_customer_id="cus_same")
    with pytest.raises(sa.exc.IntegrityError):
        database.add_user("b", stripe_customer_id="cus_same")


def test_deleting_a_user_deletes_their_subscriptions(app, database):
    database.add_user("a", stripe_customer_id="cus_a")
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO subscriptions (id, user_id, status, state_as_of) "
                "VALUES ('sub_a', 'a', 'active', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(sa.text("DELETE FROM users WHERE id = 'a'"))
        assert connection.scalar(sa.text("SELECT count(*) FROM subscriptions")) == 0


def test_the_head_is_found_across_a_merge_revision(tmp_path):
    """Two contributors' branches joined by `flask db merge` (a tuple of parents), one quoted each
    way, with an annotated assignment as newer Alembic templates write: one head, the merge."""
    from billing_service.web.health import migrations_head

    versions = tmp_path / "versions"
    versions.mkdir()
    scripts = {
        "a": 'revision = "a"\ndown_revision = None\n',
        "b": "revision = 'b'\ndown_revision = 'a'\n",
        "c": 'revision: str = "c"\ndown_revision: str | None = "a"\n',
        "m": "revision = 'm'\ndown_revision = ('b', 'c')\n",
    }
    for name, source in scripts.items():
        (versions / f"{name}.py").write_text(source)
    assert migrations_head(tmp_path) == "m"
