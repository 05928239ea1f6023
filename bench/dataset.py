"""What the benchmark runs against: a migrated database with the plans and 100,000 users, access
tokens for them, and distinct signed webhook deliveries that each change a user's row."""

from __future__ import annotations

import json
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
from tests.stripe_double import make_event, sign_payload, subscription_object

PRO_PRICE = "price_pro_monthly_placeholder"
DAY = 24 * 60 * 60


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
    step = max(1, (last - first + 1) // count)
    with app.app_context():
        tokens = [
            create_access_token(
                identity=user_id(n),
                additional_claims={"email": f"user{n}@example.com", "name": f"User {n}"},
                expires_delta=timedelta(hours=12),
            )
            for n in range(first, last + 1, step)[:count]
        ]
    path.write_text("\n".join(tokens) + "\n")


def write_webhook_deliveries(path: Path, *, secret: str, count: int, now: int) -> None:
    """``count`` distinct signed ``customer.subscription.updated`` deliveries, one a line as
    ``<Stripe-Signature>\\t<body>``: user n's first subscription, active on the pro plan.

    Signed now: the servers run with a large STRIPE_WEBHOOK_TOLERANCE, so the run may take longer
    than Stripe's 300 s without the signatures going stale.
    """
    subscription = subscription_object(
        id="sub_bench_template",
        customer="cus_bench_template",
        price_id=PRO_PRICE,
        status="active",
        current_period_end=now + 30 * DAY,
        version="2026",
    )
    event = make_event("customer.subscription.updated", subscription, created=now, version="2026")
    data_object = event["data"]["object"]
    lines = []
    for n in range(1, count + 1):
        event["id"] = f"evt_bench_{n:08d}"
        data_object["id"] = f"sub_bench_{n}"
        data_object["customer"] = f"cus_bench_{n}"
        data_object["items"]["data"][0]["subscription"] = data_object["id"]
        body = json.dumps(event, separators=(",", ":")).encode()
        lines.append(f"{sign_payload(body, secret, now)}\t{body.decode()}")
    path.write_text("\n".join(lines) + "\n")
