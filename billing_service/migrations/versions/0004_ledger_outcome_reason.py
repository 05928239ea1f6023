"""Why an event changed nothing: the ledger keeps each ignored event's reason.

Revision ID: 0004_ledger_outcome_reason
Revises: 0003_plan_trial_days
Create Date: 2026-11-26

Adds ``stripe_events.outcome_reason`` (nullable: events recorded before this migration, and every
processed or failed one, have none). Handlers return ``ignored("reason")``; the ledger stores the
reason, cut to the column's 255 characters, so ``flask billing events`` can answer "why did this
event change nothing?" without searching the logs. Batch mode, like the other migrations, so SQLite
rebuilds the table where it must.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_ledger_outcome_reason"
down_revision = "0003_plan_trial_days"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("stripe_events") as batch:
        batch.add_column(sa.Column("outcome_reason", sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table("stripe_events") as batch:
        batch.drop_column("outcome_reason")
