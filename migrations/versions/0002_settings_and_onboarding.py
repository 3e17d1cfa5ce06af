"""Settings (notifications, appearance) and onboarding progress.

Every existing live user gets a notification_settings row holding the defaults; new users get
one from the model's defaults (the same values) the first time their settings are read.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 01:50:35.618081

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('notification_settings',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('replies_email', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('replies_in_app', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('mentions_email', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('mentions_in_app', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('direct_messages_email', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('direct_messages_in_app', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('community_posts_email', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('community_posts_in_app', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('announcements_email', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('announcements_in_app', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('product_updates_email', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('product_updates_in_app', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('digest_frequency', sa.String(length=8), server_default='weekly', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_settings_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_notification_settings'))
    )
    # Plain ADD COLUMN (no batch table copy): a SQLite copy would drop the expression indexes.
    op.add_column('users', sa.Column('onboarding_step', sa.Integer(), server_default='0', nullable=False))
    op.add_column('users', sa.Column('goal', sa.String(length=8), nullable=True))
    op.add_column('users', sa.Column('interests', sa.JSON(), server_default='[]', nullable=False))
    op.add_column('users', sa.Column('theme', sa.String(length=8), server_default='system', nullable=False))
    op.add_column('users', sa.Column('reduced_motion', sa.Boolean(), server_default=sa.false(), nullable=False))

    op.execute("INSERT INTO notification_settings (user_id) SELECT id FROM users WHERE deleted_at IS NULL")



def downgrade():
    for column in ('reduced_motion', 'theme', 'interests', 'goal', 'onboarding_step'):
        op.drop_column('users', column)

    op.drop_table('notification_settings')
