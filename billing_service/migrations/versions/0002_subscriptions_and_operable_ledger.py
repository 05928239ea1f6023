"""Subscriptions with their watermark; a ledger you can operate.

Revision ID: 0002_subscriptions_ledger
Revises: 0001_initial_schema
Create Date: 2026-11-26

Adds ``subscriptions`` (one row per Stripe subscription, with ``state_as_of``, the watermark that
makes event order irrelevant) and turns the event ledger's ``outcome`` into ``status``
(processed / ignored / failed) with attempts, last error, processing time and the payload, so an
event can be listed, retried and replayed. Existing events keep their outcome as their status.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_subscriptions_ledger"
down_revision = "0001_initial_schema"
branch_labels = None
depends_on = None

SUBSCRIPTION_STATUSES = (
    "incomplete", "incomplete_expired", "trialing", "active",
    "past_due", "unpaid", "paused", "cancelled",
)


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("price_id", sa.String(length=255), nullable=True),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("stripe_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state_as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            _in("status", SUBSCRIPTION_STATUSES), name=op.f("ck_subscriptions_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_subscriptions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    op.create_index(op.f("ix_subscriptions_user_id"), "subscriptions", ["user_id"])

    with op.batch_alter_table("stripe_events") as batch:
        batch.drop_constraint(op.f("ck_stripe_events_outcome_known"), type_="check")
        batch.alter_column(
            "outcome", new_column_name="status",
            existing_type=sa.String(length=16), existing_nullable=False,
        )
        batch.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("payload", sa.JSON(), nullable=True))
    # A second batch: SQLite's table rebuild must see the renamed column before it is constrained.
    with op.batch_alter_table("stripe_events") as batch:
        batch.create_check_constraint(
            "status_known", _in("status", ("processed", "ignored", "failed"))
        )
        batch.create_index(batch.f("ix_stripe_events_status"), ["status"])
        batch.create_index(batch.f("ix_stripe_events_stripe_created_at"), ["stripe_created_at"])
    # Events recorded before this revision were processed once, in the request that received them.
    op.execute("UPDATE stripe_events SET attempts = 1, processed_at = received_at")


def downgrade():
    # Failed events did not exist before this revision: they were rolled back, never recorded.
    op.execute("DELETE FROM stripe_events WHERE status = 'failed'")
    with op.batch_alter_table("stripe_events") as batch:
        batch.drop_index(batch.f("ix_stripe_events_stripe_created_at"))
        batch.drop_index(batch.f("ix_stripe_events_status"))
        batch.drop_constraint(op.f("ck_stripe_events_status_known"), type_="check")
    with op.batch_alter_table("stripe_events") as batch:
        batch.drop_column("payload")
        batch.drop_column("processed_at")
        batch.drop_column("last_error")
        batch.drop_column("attempts")
        batch.alter_column(
            "status", new_column_name="outcome",
            existing_type=sa.String(length=16), existing_nullable=False,
        )
    with op.batch_alter_table("stripe_events") as batch:
        batch.create_check_constraint("outcome_known", _in("outcome", ("processed", "ignored")))
    op.drop_index(op.f("ix_subscriptions_user_id"), table_name="subscriptions")
    op.drop_table("subscriptions")
