"""Backfill checkpoints: where an interrupted `flask clerk backfill` resumes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 02:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('backfill_checkpoints',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('order_by', sa.String(length=32), nullable=False),
    sa.Column('cursor', sa.String(length=1000), nullable=True),
    sa.Column('listed', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created', sa.Integer(), server_default='0', nullable=False),
    sa.Column('updated', sa.Integer(), server_default='0', nullable=False),
    sa.Column('unchanged', sa.Integer(), server_default='0', nullable=False),
    sa.Column('stale', sa.Integer(), server_default='0', nullable=False),
    sa.Column('failed', sa.Integer(), server_default='0', nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_backfill_checkpoints'))
    )


def downgrade():
    op.drop_table('backfill_checkpoints')
