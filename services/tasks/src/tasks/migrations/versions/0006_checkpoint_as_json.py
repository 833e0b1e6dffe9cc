"""a job's checkpoint is any JSON value its task chooses

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 09:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    # The two integers of the price change and the supplier sync (the last product id done,
    # the last in scope) become the JSON they now keep, with what else each carries on
    # from: the rows a price change has changed, a sync's tally (kept in its result until now).
    op.add_column('jobs', sa.Column('checkpoint_json', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.execute(
        """
        UPDATE jobs SET checkpoint_json = jsonb_build_object('after', checkpoint, 'end', checkpoint_end)
            || CASE WHEN kind = 'tasks.sync_products' AND result IS NOT NULL
                    THEN jsonb_build_object('tally', result)
                    WHEN kind = 'tasks.apply_price_change'
                    THEN jsonb_build_object('updated', coalesce(progress_done, 0))
                    ELSE '{}'::jsonb END
        WHERE checkpoint IS NOT NULL AND checkpoint_end IS NOT NULL
        """
    )
    op.drop_column('jobs', 'checkpoint')
    op.drop_column('jobs', 'checkpoint_end')
    op.alter_column('jobs', 'checkpoint_json', new_column_name='checkpoint')


def downgrade():
    op.add_column('jobs', sa.Column('checkpoint_end', sa.BigInteger(), nullable=True))
    op.add_column('jobs', sa.Column('checkpoint_int', sa.BigInteger(), nullable=True))
    op.execute(
        """
        UPDATE jobs SET checkpoint_int = (checkpoint->>'after')::bigint,
                        checkpoint_end = (checkpoint->>'end')::bigint
        WHERE jsonb_typeof(checkpoint) = 'object'
        """
    )
    op.drop_column('jobs', 'checkpoint')
    op.alter_column('jobs', 'checkpoint_int', new_column_name='checkpoint')
