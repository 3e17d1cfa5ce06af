"""Production hardening: the proxy in front, the security headers, the cookie flags.

`init_app` is called by the factory. What it does depends on the settings:
- TRUST_PROXY=N (N > 0): the app sits behind N reverse proxies; ProxyFix takes the client
  address, scheme, host and port from the X-Forwarded-* headers they set (and trusts no more
  than N hops, so a client cannot forge them).
- every environment: `X-Content-Type-Options: nosniff` and `Referrer-Policy`, which cannot
  break anything;
- production: a Content-Security-Policy (our own origin plus Clerk's Frontend API host),
  `frame-ancestors 'none'`, HSTS, and every cookie the app sets marked Secure (with SameSite).
  SECURITY_HEADERS=1 turns the production set on elsewhere (to try it locally).

Our own templates use neither inline scripts nor inline styles, so `style-src 'self'` holds for
every page that does not load ClerkJS. Clerk's components style themselves at run time
(CSS-in-JS), which Clerk documents as needing `style-src 'unsafe-inline'`: the pages that load
ClerkJS (sign-in, the refresh page, signed-in pages, where it keeps the session token fresh)
get that one relaxation and nothing else; `templates/auth/_clerk_scripts.html` marks them.
"""

from __future__ import annotations

from functools import cache

from flask import Flask, Response, current_app, g
from werkzeug.middleware.proxy_fix import ProxyFix

from .clerk.sessions import frontend_api_url

CLERK_IMAGES = "https://img.clerk.com"
# Clerk's bot protection (Cloudflare Turnstile) runs inside the sign-in form when enabled.
CLERK_BOT_PROTECTION = "https://challenges.cloudflare.com"
# Clerk's abuse and fraud protection (Protect). Its hosts answer on ports other than 443, and a
# CSP source without a port matches 443 only: hence `:*` where the browser connects.
CLERK_PROTECT = "https://*.protect.clerk.com"
CLERK_PROTECT_ANY_PORT = "https://*.protect.clerk.com:*"
HSTS = "max-age=31536000; includeSubDomains"


def content_security_policy(publishable_key: str, *, clerk_ui: bool = False) -> str:
    """The CSP for one response; `clerk_ui` for pages that load ClerkJS."""
    fapi = frontend_api_url(publishable_key)
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", fapi, CLERK_BOT_PROTECTION, CLERK_PROTECT],
        "connect-src": ["'self'", fapi, CLERK_PROTECT_ANY_PORT],
        "img-src": ["'self'", CLERK_IMAGES, "data:"],
        "frame-src": ["'self'", fapi, CLERK_BOT_PROTECTION, CLERK_PROTECT],
        "worker-src": ["'self'", "blob:"],
        "style-src": ["'self'", "'unsafe-inline'"] if clerk_ui else ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def _strict(app: Flask) -> bool:
    return app.config.get("MENTORLY_ENV") == "production" or bool(app.config.get("SECURITY_HEADERS"))


def uses_clerk_ui() -> str:
    """Called by the template that loads ClerkJS, so this response's CSP allows its styles."""
    g.loads_clerk_ui = True
    return ""


BASELINE_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
)


@cache
def _strict_headers(publishable_key: str, clerk_ui: bool) -> tuple[tuple[str, str], ...]:
    # The same few headers go on every response: built once per key, not per response.
    return BASELINE_HEADERS + (
        ("Content-Security-Policy", content_security_policy(publishable_key, clerk_ui=clerk_ui)),
        ("X-Frame-Options", "DENY"),
        ("Strict-Transport-Security", HSTS),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
    )


def _secure_cookies(response: Response) -> None:
    """Every cookie set in production goes over HTTPS only, and not on cross-site requests."""
    cookies = response.headers.getlist("Set-Cookie")
    if not cookies:
        return
    fixed = []
    for cookie in cookies:
        attributes = {part.strip().split("=", 1)[0].lower() for part in cookie.split(";")[1:]}
        if "secure" not in attributes:
            cookie += "; Secure"
        if "samesite" not in attributes:
            cookie += "; SameSite=Lax"
        fixed.append(cookie)
    del response.headers["Set-Cookie"]
    for cookie in fixed:
        response.headers.add("Set-Cookie", cookie)


def add_security_headers(response: Response) -> Response:
    """Add each security header the view did not set itself (a view's own value wins)."""
    app = current_app
    strict = _strict(app)
    if strict:
        wanted = _strict_headers(app.config["CLERK_PUBLISHABLE_KEY"], bool(g.get("loads_clerk_ui")))
    else:
        wanted = BASELINE_HEADERS
    present = {name.lower() for name, _ in response.headers}
    response.headers.extend([(name, value) for name, value in wanted if name.lower() not in present])
    if strict and "set-cookie" in present:
        _secure_cookies(response)
    return response


def init_app(app: Flask) -> None:
    hops = int(app.config.get("TRUST_PROXY") or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)  # type: ignore[method-assign]
    if _strict(app):
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["SESSION_COOKIE_HTTPONLY"] = True
        app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
        app.config["PREFERRED_URL_SCHEME"] = "https"
    app.add_template_global(uses_clerk_ui)
    app.after_request(add_security_headers)
