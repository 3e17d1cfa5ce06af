"""Which database errors are worth a retry: the one rule the webhook, replay and backfill share."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

TRANSIENT_ERRORS = (OperationalError, DisconnectionError, PoolTimeoutError, IntegrityError)


def is_transient(exc: BaseException) -> bool:
    """Whether the same work can succeed if tried again later.

    Transient: the database could not be reached, the connection was lost, the pool had no
    connection to give, or a unique email/username was still contested after the hand-over's
    retries (`users.run_with_hand_over` lets an IntegrityError out only then: a concurrent
    writer took the value meanwhile, and a later try sees its commit). Anything else the
    database refuses (a value that does not fit, say) is permanent: retrying cannot help.
    """
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def first_line(exc: BaseException) -> str:
    """The driver's message without SQLAlchemy's statement and background lines, for logs."""
    text = str(getattr(exc, "orig", None) or exc)
    return text.splitlines()[0] if text else type(exc).__name__
