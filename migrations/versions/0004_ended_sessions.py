"""Ended sessions: Clerk sessions revoked, ended or removed, refused before their tokens expire.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 08:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ended_sessions',
    sa.Column('sid', sa.String(length=64), nullable=False),
    sa.Column('clerk_id', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.PrimaryKeyConstraint('sid', name=op.f('pk_ended_sessions'))
    )
    op.create_index(op.f('ix_ended_sessions_ended_at'), 'ended_sessions', ['ended_at'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_ended_sessions_ended_at'), table_name='ended_sessions')
    op.drop_table('ended_sessions')
