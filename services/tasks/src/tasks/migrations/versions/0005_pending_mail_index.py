"""the pending messages of a job, in order, from an index

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    # Each batch claims the job's next pending messages (tasks/work/email_alerts.py): without this a
    # batch reads every message of the job, and a large alert costs the square of its size.
    op.create_index(
        'ix_outbox_messages_pending',
        'outbox_messages',
        ['job_id', 'id'],
        postgresql_where=sa.text("state = 'pending'"),
    )


def downgrade():
    op.drop_index('ix_outbox_messages_pending', table_name='outbox_messages')
