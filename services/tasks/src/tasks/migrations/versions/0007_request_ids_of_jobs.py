"""a job keeps the id of the request that started it, and of the last one that retried it

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 11:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('jobs', sa.Column('request_id', sa.String(length=128), nullable=True))
    op.add_column('jobs', sa.Column('retry_request_id', sa.String(length=128), nullable=True))


def downgrade():
    op.drop_column('jobs', 'retry_request_id')
    op.drop_column('jobs', 'request_id')
