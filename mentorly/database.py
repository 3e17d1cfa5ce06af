"""Which database errors are worth a retry: the one rule the webhook, replay and backfill share."""

from __future__ import annotations

from sqlalchemy.exc import DataError, DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError


def is_transient(exc: BaseException) -> bool:
    """Whether the same work can succeed if tried again later.

    Permanent: a value the database cannot take (DataError: too long, out of range, malformed),
    or an error raised before the statement reached it (SQLAlchemy refusing a parameter);
    retrying cannot help. Everything else the database answers is worth a retry: it could not be
    reached, the connection was lost, the pool had no connection to give, a unique email or
    username was still contested after the hand-over's retries (`users.run_with_hand_over`: a
    later try sees the concurrent writer's commit), or the schema or a grant does not yet match
    the code (a deploy before `flask db upgrade`), which an operator puts right.
    """
    if isinstance(exc, (DisconnectionError, PoolTimeoutError)):
        return True
    return isinstance(exc, DBAPIError) and not isinstance(exc, DataError)


def first_line(exc: BaseException) -> str:
    """The driver's message without SQLAlchemy's statement and background lines, for logs."""
    text = str(getattr(exc, "orig", None) or exc)
    return text.splitlines()[0] if text else type(exc).__name__
