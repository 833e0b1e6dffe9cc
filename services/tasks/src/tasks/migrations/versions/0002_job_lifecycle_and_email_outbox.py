"""job lifecycle and email outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 14:34:21.009471

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_constraint(op.f("ck_jobs_state_known"), "jobs", type_="check")
    op.create_check_constraint(
        op.f("ck_jobs_state_known"),
        "jobs",
        "state IN ('queued', 'running', 'succeeded', 'failed', 'dead', 'cancelled')",
    )

    op.create_table('outbox_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('pending', 'sent', 'failed')", name=op.f('ck_outbox_messages_state_known')),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_outbox_messages_job_id_jobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages'))
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_messages_job_id'), ['job_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_messages_state'), ['state'], unique=False)

    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('checkpoint', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('checkpoint_end', sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f('ix_jobs_created_at'), ['created_at'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_jobs_idempotency_key'), ['idempotency_key'])



def downgrade():
    op.drop_constraint(op.f("ck_jobs_state_known"), "jobs", type_="check")
    op.create_check_constraint(
        op.f("ck_jobs_state_known"),
        "jobs",
        "state IN ('queued', 'running', 'succeeded', 'failed')",
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_jobs_idempotency_key'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_jobs_created_at'))
        batch_op.drop_column('checkpoint_end')
        batch_op.drop_column('checkpoint')
        batch_op.drop_column('idempotency_key')

    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_messages_state'))
        batch_op.drop_index(batch_op.f('ix_outbox_messages_job_id'))

    op.drop_table('outbox_messages')
