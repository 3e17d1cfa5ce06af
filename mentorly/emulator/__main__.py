"""`python -m mentorly.emulator`: serve the Clerk emulator (development and tests only)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from werkzeug.serving import run_simple

from .. import config as settings
from . import ProductionRefused, create_emulator_app, refuse_production
from .tokens import DEFAULT_TOKEN_LIFETIME


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mentorly.emulator", description=__doc__)
    parser.add_argument("--host", default=settings.EMULATOR_HOST)
    parser.add_argument("--port", type=int, default=settings.EMULATOR_PORT)
    parser.add_argument("--state-dir", default="instance/emulator", help="where users, sessions, the key and images live")
    parser.add_argument("--webhook-url", default=None, help="where to send Svix-signed webhooks (none: not sent)")
    parser.add_argument("--app-url", default="http://127.0.0.1:5000", help="the app's origin: redirects, CORS, azp")
    parser.add_argument("--public-url", default=None,
                        help="the emulator's own URL as browsers see it (default http://HOST:PORT)")
    parser.add_argument("--secret-key", default=settings.EMULATOR_SECRET_KEY, help="the Backend API Bearer key")
    parser.add_argument("--webhook-secret", default=settings.EMULATOR_WEBHOOK_SECRET, help="whsec_... to sign with")
    parser.add_argument("--token-lifetime", type=int, default=DEFAULT_TOKEN_LIFETIME, help="session token seconds")
    parser.add_argument("--no-webhooks", action="store_true", help="start with webhooks switched off")
    parser.add_argument("--retry-delays", default=None,
                        help="comma-separated seconds between webhook retries (default 0.5,1,2,4)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        refuse_production()
    except ProductionRefused as exc:
        print(exc, file=sys.stderr)
        return 2
    host_for_url = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    public_url = args.public_url or f"http://{host_for_url}:{args.port}"
    extra = {}
    if args.retry_delays is not None:
        extra["retry_delays"] = tuple(float(x) for x in args.retry_delays.split(",") if x.strip())
    app = create_emulator_app(
        args.state_dir, public_url=public_url, app_url=args.app_url, webhook_url=args.webhook_url,
        secret_key=args.secret_key, webhook_secret=args.webhook_secret, webhooks_enabled=not args.no_webhooks,
        token_lifetime=args.token_lifetime, **extra)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    config = app.config["EMULATOR"]
    print(f"Clerk emulator on {public_url} (Backend API {public_url}/v1, sign-in {public_url}/sign-in); "
          f"state in {os.path.abspath(args.state_dir)}; webhooks to {args.webhook_url or 'nowhere'}; "
          f"publishable key {config.publishable_key}", flush=True)
    try:
        run_simple(args.host, args.port, app, threaded=True, use_reloader=False, use_debugger=False)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
