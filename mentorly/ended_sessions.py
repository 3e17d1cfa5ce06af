"""Sessions ended at Clerk, remembered so that their still-valid tokens sign no one in.

A Clerk session token lives 60 s by default (the instance can make it longer, never more than
a day is sensible); without this, a session revoked from another device would keep working
until its last token expired. The `session.revoked`, `session.ended` and `session.removed`
webhooks, and a revoke made in Settings → Security, record the `sid`; every signed-in request
checks it. Records older than ENDED_SESSION_MEMORY outlive any token and are purged with the
webhook log (`flask webhooks purge`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Connection, Engine, bindparam, delete, exists
from sqlalchemy.dialects import postgresql, sqlite

from .models import EndedSession, utcnow

ended = EndedSession.__table__
ENDED_SESSION_MEMORY = timedelta(days=2)
SESSION_END_EVENTS = {"session.revoked": "revoked", "session.ended": "ended", "session.removed": "removed"}


@cache
def _remember_statement(dialect: str):
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(ended).on_conflict_do_nothing(index_elements=[ended.c.sid])


def remember_ended_session(conn: Connection, sid: str, clerk_id: str | None, status: str, at: datetime | None = None) -> None:
    """Record that `sid` ended (a repeat is harmless: the first record stands)."""
    conn.execute(
        _remember_statement(conn.dialect.name),
        {"sid": sid, "clerk_id": clerk_id, "status": status, "ended_at": at or utcnow()},
    )


# SQL: whether the session given as `ended_sid` is recorded as ended (selected alongside the
# signed-in user, on every signed-in request, so it is built once).
SESSION_HAS_ENDED = exists().where(ended.c.sid == bindparam("ended_sid"))


def purge_ended_sessions(engine: Engine) -> int:
    with engine.begin() as conn:
        return conn.execute(delete(ended).where(ended.c.ended_at < utcnow() - ENDED_SESSION_MEMORY)).rowcount
