"""What the benchmark runs against: a migrated database with the plans and 100,000 users, access
tokens for them, and the reset between webhook streams (the streams: ``bench/streams.py``)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask_jwt_extended import JWTManager, create_access_token
from flask_migrate import upgrade

from billing_service import create_app, repository
from billing_service.extensions import db
from billing_service.plans.catalogue import default_catalogue_path, read_catalogue
from billing_service.repository import plans

PRO_PRICE = "price_pro_monthly_placeholder"


def user_id(n: int) -> str:
    return f"bench-user-{n}"


def prepare_database(database_uri: str, *, users: int) -> None:
    """Drop every table, migrate from nothing, seed the default plans and insert ``users`` users,
    each with a Stripe customer (``cus_bench_<n>``), so checkout measures only the session."""
    app = create_app(
        {
            "BILLING_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": database_uri,
            "JWT_SECRET_KEY": "unused-while-preparing-the-database",
        }
    )
    with app.app_context():
        metadata = sa.MetaData()
        metadata.reflect(db.engine)
        metadata.drop_all(db.engine)
        upgrade()
        plans.replace_catalogue(read_catalogue(default_catalogue_path()))
        repository.commit()
        # One set-based INSERT, not 100,000 round trips: seconds on either database.
        with db.engine.begin() as connection:
            connection.execute(sa.text(_bulk_insert(db.engine.dialect.name)), {"count": users})
            if db.engine.dialect.name == "postgresql":
                connection.execute(sa.text("ANALYZE users"))
        db.engine.dispose()


def _bulk_insert(dialect: str) -> str:
    columns = "id, email, name, stripe_customer_id"
    values = "'bench-user-' || n, 'user' || n || '@example.com', 'User ' || n, 'cus_bench_' || n"
    if dialect == "postgresql":
        return (
            f"INSERT INTO users ({columns}) SELECT {values} FROM generate_series(1, :count) AS g(n)"
        )
    return (
        f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :count) "
        f"INSERT INTO users ({columns}) SELECT {values} FROM g"
    )


def write_tokens(path: Path, *, jwt_secret: str, first: int, last: int, count: int) -> None:
    """``count`` access tokens (one a line) for users spread evenly over ``first..last``."""
    app = Flask("bench-tokens")
    app.config["JWT_SECRET_KEY"] = jwt_secret
    JWTManager(app)
    with app.app_context():
        tokens = [
            create_access_token(
                identity=user_id(n),
                additional_claims={"email": f"user{n}@example.com", "name": f"User {n}"},
                expires_delta=timedelta(hours=12),
            )
            for n in spread_users(first, last, count)
        ]
    path.write_text("\n".join(tokens) + "\n")


def spread_users(first: int, last: int, count: int) -> range:
    """The numbers of ``count`` users spread evenly over ``first..last``, in token order."""
    step = max(1, (last - first + 1) // count)
    return range(first, last + 1, step)[:count]


def reset_webhook_state(database_uri: str, *, quiet_for: float = 0.25) -> None:
    """Undo what webhook streams wrote (the ledger, the subscriptions, the users' summaries), so
    that the next stream meets the state ``prepare_database`` left, while the servers keep
    running. On PostgreSQL the users table is vacuumed and analysed too, and a checkpoint taken:
    no dead rows, no autovacuum nor checkpoint woken up by the previous stream during the next one
    (CHECKPOINT needs a superuser or pg_checkpoint, as the benchmark's default database has).

    The emptied tables are truncated and not analysed, which leaves their statistics as a new
    database has them (never analysed), as ``prepare_database`` left them. Analysed empty, they
    told the planner that they hold no rows, so the plans made in the first milliseconds of a
    load (and kept: psycopg prepares a statement on its sixth execution) scanned the whole
    subscriptions table for one subscription or one user's, while the 10,000-subscriber stream
    grew it to thousands of rows: up to 0.4 ms a scan by the end of a round, once an event for
    the reference and four times for the service (bench/results/NOTES.md). In production a
    table is in that state for a minute at most: autovacuum analyses one that has grown by 50
    rows and a tenth, and the plans are made again.

    First it waits for the last load's stragglers, until the ledger has not grown for
    ``quiet_for`` seconds. When wrk stops, the deliveries it had sent on its other connections
    are still queued in the server's accept backlog, and the server applies them after wrk has
    exited: reset before they land, they left subscriptions at a watermark from late in the
    stream, and the next load (the other server's, with the same stream) found its first events
    stale. Measured before this wait: 20-25% of a 20-subscriber stream's events were skipped as
    stale by whichever server ran second, and a stale event is less work than an applied one."""
    engine = sa.create_engine(database_uri)
    postgres = engine.dialect.name == "postgresql"
    _wait_until_the_ledger_is_still(engine, quiet_for)
    with engine.begin() as connection:
        if postgres:
            connection.execute(sa.text("TRUNCATE stripe_events, subscriptions"))
        else:
            connection.execute(sa.text("DELETE FROM stripe_events"))
            connection.execute(sa.text("DELETE FROM subscriptions"))
        connection.execute(
            sa.text(
                "UPDATE users SET subscription_status = 'free', subscription_tier = 'free', "
                "stripe_subscription_id = NULL, current_period_end = NULL, "
                "cancel_at_period_end = false WHERE stripe_subscription_id IS NOT NULL"
            )
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if postgres:
            connection.execute(sa.text("VACUUM ANALYZE users"))
            # The previous run's WAL flushed now, not by a checkpoint in the middle of the next
            # run (the reference runs first: the service's run would pay for both).
            connection.execute(sa.text("CHECKPOINT"))
        else:
            # The write-ahead log back to empty, as on a new database.
            connection.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()


def _wait_until_the_ledger_is_still(engine: sa.Engine, quiet_for: float) -> None:
    count = sa.text("SELECT count(*) FROM stripe_events")
    deadline = time.monotonic() + 30
    seen = None
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            now = connection.execute(count).scalar_one()
        if now == seen:
            return
        seen = now
        time.sleep(quiet_for)
    raise RuntimeError("The ledger kept growing for 30 s after the load ended")
