"""Users, plans and the Stripe event ledger.

Revision ID: 0001_initial_schema
Revises:
Create Date: 2026-11-26

Written to run the same on SQLite and PostgreSQL: server defaults use portable SQL
(``sa.true()``, ``sa.func.now()``) rather than one dialect's literals.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial_schema"
down_revision = None
branch_labels = None
depends_on = None

STATUSES = (
    "free", "incomplete", "incomplete_expired", "trialing", "active",
    "past_due", "unpaid", "paused", "cancelled",
)


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    op.create_table(
        "plans",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=False),
        sa.Column("price_id", sa.String(length=255), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("interval", sa.String(length=8), nullable=True),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("display_order", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "interval IS NULL OR " + _in("interval", ("day", "week", "month", "year")),
            name=op.f("ck_plans_interval_known"),
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_plans_amount_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("price_id", name=op.f("uq_plans_price_id")),
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("stripe_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            _in("outcome", ("processed", "ignored")), name=op.f("ck_stripe_events_outcome_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("subscription_status", sa.String(length=32), server_default="free", nullable=False),
        sa.Column("subscription_tier", sa.String(length=64), server_default="free", nullable=False),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            _in("subscription_status", STATUSES), name=op.f("ck_users_status_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("stripe_customer_id", name=op.f("uq_users_stripe_customer_id")),
    )
    op.create_index(
        op.f("ix_users_stripe_subscription_id"), "users", ["stripe_subscription_id"], unique=False
    )


def downgrade():
    op.drop_index(op.f("ix_users_stripe_subscription_id"), table_name="users")
    op.drop_table("users")
    op.drop_table("stripe_events")
    op.drop_table("plans")
