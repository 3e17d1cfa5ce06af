"""users.has_image: whether the avatar is an uploaded image (Clerk's `has_image`).

Without an upload Clerk's `image_url` is still a generated default image, so only this flag says
whether there is an avatar to remove. Rows stored before it cannot tell (and the backfill skips
users Clerk has not changed): they keep offering removal, as before, until Clerk's next update of
the user brings the real value.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('has_image', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute("UPDATE users SET has_image = (image_url IS NOT NULL)")


def downgrade():
    op.drop_column('users', 'has_image')
