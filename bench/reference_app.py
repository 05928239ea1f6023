"""The same-work reference: the least code that does what the service's hot endpoints must do.

Served like the service (``reference_app:create_app()``, the same gunicorn settings and worker
count) on the same database and tables, with the same driver and the same engine settings (pool,
timeouts, SQLite pragmas; ``tests/test_bench.py`` checks they stay equal), so that the service's
figure divided by this one's says what the service's code costs over the work itself:

- ``POST /api/billing/webhook``: the signature checked by the Stripe SDK (same tolerance), the
  JSON parsed, then one transaction, committed before the 200: the event into the ledger (a
  redelivery finds it there and changes nothing), the user found by customer and locked, the
  subscription upserted only if the event is newer than what is stored (the watermark), and when
  it was, the user's summary set from the subscription that matters, in one statement.
- ``GET /api/billing/subscription``: the access token checked, one indexed read.

Not here, because they are the service's features rather than the work: logs, metrics, request
ids, failure records, other event types, ties re-fetched from Stripe (the benchmark's streams
have none), users created on first sight.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import stripe
from flask import Flask, request
from flask_jwt_extended import JWTManager, get_jwt, jwt_required

TIMESTAMP = sa.DateTime(timezone=True)
PAID = "'active', 'trialing', 'past_due'"
LIVE = "'incomplete', 'unpaid', 'paused'"


def create_app(environ: Mapping[str, str] = os.environ) -> Flask:
    app = Flask(__name__)
    app.config["JWT_SECRET_KEY"] = environ["JWT_SECRET_KEY"]
    JWTManager(app)
    engine = make_engine(environ["DATABASE_URL"])
    app.extensions["reference_engine"] = engine
    sql = Statements(engine.dialect.name)
    secret = environ["STRIPE_WEBHOOK_SECRET"]
    tolerance = int(environ.get("STRIPE_WEBHOOK_TOLERANCE", "300"))
    # As the service reads: autocommit on PostgreSQL (no BEGIN and ROLLBACK around one SELECT);
    # on SQLite no BEGIN is sent for a read anyway.
    read_options = {"isolation_level": "AUTOCOMMIT"} if sql.postgres else {}
    plans: dict[str | None, tuple[str, list[str]]] = {}

    @app.post("/api/billing/webhook")
    def webhook():
        text = request.get_data().decode()
        try:
            stripe.WebhookSignature.verify_header(
                text, request.headers.get("Stripe-Signature", ""), secret, tolerance
            )
        except stripe.SignatureVerificationError:
            return {"detail": "Invalid Stripe signature"}, 400
        event = json.loads(text)
        if event["created"] > time.time() + tolerance:
            return {"detail": "Invalid payload: not a Stripe event"}, 400
        subscription = event["data"]["object"]
        with engine.connect() as db:
            if not sql.postgres:
                # The write lock first: a deferred BEGIN would upgrade a read lock to a write
                # lock mid-transaction, and two workers doing so deadlock, then wait out the
                # busy timeout.
                db.exec_driver_sql("BEGIN IMMEDIATE")
            outcome = _apply(db, sql, event, subscription, text)
            db.commit()
        return {"received": True, "outcome": outcome}

    @app.get("/api/billing/subscription")
    @jwt_required()
    def subscription():
        with engine.connect().execution_options(**read_options) as db:
            row = db.execute(sql.read, {"user_id": get_jwt()["sub"]}).first()
            if not plans:
                for plan_id, price_id, features in db.execute(sql.plans):
                    plans.setdefault(price_id, (plan_id, features))
        paying = row is not None and row.subscription_tier != "free"
        plan_id, features = plans.get(row.price_id if paying else None, (None, []))
        return {
            "subscription_status": row.subscription_status if row else "free",
            "subscription_tier": row.subscription_tier if row else "free",
            "stripe_customer_id": row.stripe_customer_id if row else None,
            "current_period_end": _iso(row.current_period_end) if row else None,
            "cancel_at_period_end": bool(row.cancel_at_period_end) if row else False,
            "plan_id": plan_id,
            "features": features,
        }

    return app


def _apply(
    db: sa.Connection, sql: Statements, event: dict[str, Any], sub: dict[str, Any], text: str
) -> str:
    now = datetime.now(UTC)
    created = datetime.fromtimestamp(event["created"], UTC)
    ledger = {"id": event["id"], "type": event["type"], "created": created, "now": now}
    if db.execute(sql.ledger, ledger | {"payload": text}).first() is None:
        return "duplicate"
    user = db.execute(sql.user, {"customer": sub["customer"]}).first()
    if user is None:
        return "ignored"
    item = sub["items"]["data"][0]
    period_end = sub.get("current_period_end") or item.get("current_period_end")
    values = {
        "id": sub["id"],
        "user_id": user.id,
        "status": "cancelled" if sub["status"] == "canceled" else sub["status"],
        "price_id": item["price"]["id"],
        "period_end": datetime.fromtimestamp(period_end, UTC) if period_end else None,
        "cancel": bool(sub.get("cancel_at_period_end")),
        "sub_created": datetime.fromtimestamp(sub["created"], UTC),
        "as_of": created,
        "now": now,
    }
    if db.execute(sql.upsert, values).first() is None:
        return "ignored"  # stale: the stored state is newer
    db.execute(sql.summary, {"user_id": user.id, "now": now})
    return "processed"


def _iso(value: datetime | None) -> str | None:
    # As the service's pydantic answers: ISO 8601 in UTC, with Z.
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


def make_engine(database_url: str) -> sa.Engine:
    """An engine set up as the service sets up its own (billing_service.config.engine_options
    and extensions.configure_sqlite), plus SQLite transactions begun by the caller."""
    if not database_url.startswith("sqlite"):
        return sa.create_engine(database_url, hide_parameters=True, pool_recycle=1800)
    engine = sa.create_engine(database_url, hide_parameters=True, connect_args={"timeout": 15})

    @sa.event.listens_for(engine, "connect")
    def configure(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # No implicit BEGIN from the driver: the webhook sends BEGIN IMMEDIATE itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    return engine


class Statements:
    """The reference's SQL, the same text on both databases but for the payload's cast and the
    user's row lock (SQLite has one writer at a time instead)."""

    def __init__(self, dialect: str):
        self.postgres = dialect == "postgresql"
        payload = "CAST(:payload AS JSON)" if self.postgres else ":payload"
        self.ledger = _text(
            "INSERT INTO stripe_events (id, type, stripe_created_at, received_at, status, "
            "attempts, processed_at, payload) "
            f"VALUES (:id, :type, :created, :now, 'processed', 1, :now, {payload}) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            "created",
            "now",
        )
        # Locked: the summary below reads all the user's subscriptions, and another event's
        # subscription committed meanwhile must be seen by it (PostgreSQL, READ COMMITTED).
        lock = " FOR UPDATE" if self.postgres else ""
        self.user = sa.text(f"SELECT id FROM users WHERE stripe_customer_id = :customer{lock}")
        self.upsert = _text(
            "INSERT INTO subscriptions (id, user_id, status, price_id, current_period_end, "
            "cancel_at_period_end, stripe_created_at, state_as_of, updated_at) "
            "VALUES (:id, :user_id, :status, :price_id, :period_end, :cancel, :sub_created, "
            ":as_of, :now) "
            "ON CONFLICT (id) DO UPDATE SET status = excluded.status, "
            "price_id = excluded.price_id, current_period_end = excluded.current_period_end, "
            "cancel_at_period_end = excluded.cancel_at_period_end, "
            "stripe_created_at = excluded.stripe_created_at, "
            "state_as_of = excluded.state_as_of, updated_at = excluded.updated_at "
            "WHERE subscriptions.state_as_of < excluded.state_as_of "
            "AND subscriptions.user_id = excluded.user_id "
            "RETURNING id",
            "period_end",
            "sub_created",
            "as_of",
            "now",
        )
        # The subscription that matters: paid first, then live, then ended; newest first.
        self.summary = _text(
            "UPDATE users SET subscription_status = c.status, subscription_tier = c.tier, "
            "stripe_subscription_id = c.id, current_period_end = c.current_period_end, "
            "cancel_at_period_end = c.cancel_at_period_end, updated_at = :now "
            "FROM (SELECT s.id, s.status, s.current_period_end, s.cancel_at_period_end, "
            f"CASE WHEN s.status IN ({PAID}) THEN COALESCE(p.tier, 'free') ELSE 'free' END "
            "AS tier FROM subscriptions s LEFT JOIN plans p ON p.price_id = s.price_id "
            "WHERE s.user_id = :user_id "
            f"ORDER BY CASE WHEN s.status IN ({PAID}) THEN 0 WHEN s.status IN ({LIVE}) THEN 1 "
            "ELSE 2 END, s.stripe_created_at IS NULL, s.stripe_created_at DESC, "
            "s.state_as_of DESC, s.id DESC LIMIT 1) AS c "
            "WHERE users.id = :user_id",
            "now",
        )
        self.read = sa.text(
            "SELECT u.subscription_status, u.subscription_tier, u.stripe_customer_id, "
            "u.current_period_end, u.cancel_at_period_end, s.price_id FROM users u "
            "LEFT JOIN subscriptions s ON s.id = u.stripe_subscription_id "
            "WHERE u.id = :user_id"
        ).columns(current_period_end=TIMESTAMP)
        # Once per worker, as the service keeps its plan list; the free plan under price None.
        self.plans = sa.text(
            "SELECT id, price_id, features FROM plans WHERE active "
            "AND (price_id IS NOT NULL OR tier = 'free') ORDER BY display_order"
        ).columns(features=sa.JSON)


def _text(statement: str, *timestamps: str) -> sa.TextClause:
    # Typed, so each driver gets timestamps as the service's columns store them.
    return sa.text(statement).bindparams(
        *(sa.bindparam(name, type_=TIMESTAMP) for name in timestamps)
    )
