"""Scale-out: a log of rule changes (filled by PostgreSQL triggers) and an index on
`stories.updated_at`, so several processes keep their rule index and story grouper current.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

UTC_DATETIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

# One row per chat touched by a statement's row: rules inserted, changed or deleted (also by
# the cascade of a forgotten chat), and subscribers whose active/paused state changed. The
# transaction id lets readers use a snapshot's xmin as a watermark (bot/storage/sync.py).
_FUNCTION = """
CREATE OR REPLACE FUNCTION note_rule_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO rule_changes (chat_id, xid, changed_at)
        VALUES (OLD.chat_id, pg_current_xact_id()::text::bigint, now());
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.chat_id IS DISTINCT FROM OLD.chat_id) THEN
        INSERT INTO rule_changes (chat_id, xid, changed_at)
        VALUES (NEW.chat_id, pg_current_xact_id()::text::bigint, now());
    END IF;
    RETURN NULL;
END
$$
"""
_TRIGGERS = (
    """
    CREATE TRIGGER rules_note_change AFTER INSERT OR UPDATE OR DELETE ON rules
    FOR EACH ROW EXECUTE FUNCTION note_rule_change()
    """,
    """
    CREATE TRIGGER subscribers_note_change AFTER UPDATE OF active, paused, chat_id
    ON subscribers FOR EACH ROW
    WHEN (OLD.active IS DISTINCT FROM NEW.active OR OLD.paused IS DISTINCT FROM NEW.paused
          OR OLD.chat_id IS DISTINCT FROM NEW.chat_id)
    EXECUTE FUNCTION note_rule_change()
    """,
)


def upgrade() -> None:
    op.create_table(
        "rule_changes",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("xid", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_changes")),
    )
    op.create_index(op.f("ix_rule_changes_xid"), "rule_changes", ["xid"], unique=False)
    op.create_index(op.f("ix_stories_updated_at"), "stories", ["updated_at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FUNCTION)
        for trigger in _TRIGGERS:
            op.execute(trigger)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS subscribers_note_change ON subscribers")
        op.execute("DROP TRIGGER IF EXISTS rules_note_change ON rules")
        op.execute("DROP FUNCTION IF EXISTS note_rule_change()")
    op.drop_index(op.f("ix_stories_updated_at"), table_name="stories")
    op.drop_index(op.f("ix_rule_changes_xid"), table_name="rule_changes")
    op.drop_table("rule_changes")
