"""Gunicorn settings for production: `gunicorn -c gunicorn.conf.py wsgi:app`.

Each value can be overridden from the environment (shown beside it) or on the command line.

- Workers: one per CPU the process may use, plus one (WEB_CONCURRENCY); each runs
  GUNICORN_THREADS threads (gthread), so a worker waiting on PostgreSQL or Clerk keeps serving.
  Workers x threads is also the most database connections one instance holds at once (the
  SQLAlchemy pool per worker), which matters when several instances share one PostgreSQL.
- Timeouts: a request gets GUNICORN_TIMEOUT seconds (Svix itself gives up after 15 s, so a
  webhook never needs more); on a deploy or SIGTERM, workers get GUNICORN_GRACEFUL_TIMEOUT
  seconds to finish what they hold.
- The access log leaves out query strings (a return path or a token in a URL is nobody's
  business in a log) and gives the time taken in milliseconds.
- The control socket (gunicorn 24+) lives under /tmp, one per instance (named by port and pid),
  or is disabled with GUNICORN_CONTROL_SOCKET=off.
"""

from __future__ import annotations

import os


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what a container actually grants
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = os.environ.get("GUNICORN_BIND") or f"{os.environ.get('HOST', '0.0.0.0')}:{_int('PORT', 8000)}"
worker_class = "gthread"
workers = _int("WEB_CONCURRENCY", _cpus() + 1)
threads = _int("GUNICORN_THREADS", 4)
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Recycling workers hides leaks instead of finding them: off unless asked for.
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max(1, max_requests // 10) if max_requests else 0
# Each worker builds its own app (and its own database pool): nothing shared across a fork.
preload_app = False
limit_request_line = 8190
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# %(U)s is the path without the query string; %(M)s the duration in milliseconds.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'

_control = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
if _control.lower() in ("off", "none", "0", "false", "disabled"):
    control_socket_disable = True
else:
    control_socket = _control or f"/tmp/mentorly-gunicorn-{bind.rsplit(':', 1)[-1]}-{os.getpid()}.ctl"
    control_socket_mode = 0o600


def on_starting(server) -> None:
    """Refuse to start when Clerk refuses CLERK_SECRET_KEY: every signed-in page would fail.
    (Clerk unreachable or slow is no reason not to start: that is logged, and we go on.)"""
    from mentorly import create_app
    from mentorly.clerk.client import check_secret_key, clerk_client

    app = create_app()
    if app.config["MENTORLY_ENV"] != "production":
        return
    with app.app_context():
        problem = check_secret_key(clerk_client())
    if problem:
        server.log.error("Mentorly cannot start: %s.", problem)
        raise SystemExit(f"Mentorly cannot start: {problem}.")
