"""A free trial per plan.

Revision ID: 0003_plan_trial_days
Revises: 0002_subscriptions_ledger
Create Date: 2026-11-26

Adds ``plans.trial_days`` (nullable: existing plans keep offering no trial), sent to Checkout as
``subscription_data[trial_period_days]``. Batch mode, so SQLite rebuilds the table to add the
check constraint; PostgreSQL alters it in place.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_plan_trial_days"
down_revision = "0002_subscriptions_ledger"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("plans") as batch:
        batch.add_column(sa.Column("trial_days", sa.Integer(), nullable=True))
    # A second batch: SQLite's table rebuild must see the new column before it is constrained.
    with op.batch_alter_table("plans") as batch:
        batch.create_check_constraint(
            "trial_days_range", "trial_days IS NULL OR trial_days BETWEEN 1 AND 730"
        )


def downgrade():
    with op.batch_alter_table("plans") as batch:
        batch.drop_constraint(op.f("ck_plans_trial_days_range"), type_="check")
        batch.drop_column("trial_days")
