"""delivery tokens on jobs, and mail whose delivery is unconfirmed

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 22:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deliveries', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False))
    op.execute("UPDATE jobs SET deliveries = attempts")

    op.drop_constraint(op.f("ck_outbox_messages_state_known"), "outbox_messages", type_="check")
    op.create_check_constraint(
        op.f("ck_outbox_messages_state_known"),
        "outbox_messages",
        "state IN ('pending', 'sending', 'sent', 'failed', 'held')",
    )


def downgrade():
    op.execute("UPDATE outbox_messages SET state = 'pending' WHERE state IN ('sending', 'held')")
    op.drop_constraint(op.f("ck_outbox_messages_state_known"), "outbox_messages", type_="check")
    op.create_check_constraint(
        op.f("ck_outbox_messages_state_known"),
        "outbox_messages",
        "state IN ('pending', 'sent', 'failed')",
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('deliveries')
