"""Migrations build exactly the schema the models describe and come back down, on both databases."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from billing_service.extensions import db

TABLES = {"users", "plans", "stripe_events"}


def _tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def test_downgrade_to_base_and_upgrade_to_head(app):
    with app.app_context():
        assert _tables() >= TABLES
        downgrade(revision="base")
        assert _tables() & TABLES == set()
        upgrade()
        assert _tables() >= TABLES


def test_migrated_schema_matches_the_models(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_constraints_keep_data_true(app, database):
    """The database itself refuses states the code must never write."""
    with app.app_context():
        for statement in (
            "INSERT INTO users (id, subscription_status) VALUES ('x1', 'canceled')",
            "INSERT INTO plans (id, name, tier, amount, currency, features) "
            "VALUES ('p', 'P', 'pro', -1, 'usd', '[]')",
        ):
            try:
                with db.engine.begin() as connection:
                    connection.execute(sa.text(statement))
            except sa.exc.IntegrityError:
                continue
            raise AssertionError(f"accepted: {statement}")
        database.add_user("a", stripe_customer_id="cus_same")
        try:
            database.add_user("b", stripe_customer_id="cus_same")
        except sa.exc.IntegrityError:
            return
        raise AssertionError("two users share one Stripe customer")


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
