"""Our Content-Security-Policy holds every source Clerk's CSP guide asks for.

The list is Clerk's "Configure Clerk Content-Security-Policy headers" guide
(clerk.com/docs/guides/secure/best-practices/csp-headers), with Protect (abuse and fraud
protection): FAPI_HOST stands for the Frontend API host the publishable key names.
"""

from __future__ import annotations

import base64

from mentorly.security import content_security_policy

CLERK_CSP_GUIDE = {
    "script-src": ["FAPI_HOST", "https://challenges.cloudflare.com", "https://*.protect.clerk.com"],
    "connect-src": ["FAPI_HOST", "https://*.protect.clerk.com:*"],
    "img-src": ["https://img.clerk.com"],
    "worker-src": ["'self'", "blob:"],
    "style-src": ["'unsafe-inline'"],
    "frame-src": ["https://challenges.cloudflare.com", "https://*.protect.clerk.com"],
}


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


def test_every_source_in_clerks_csp_guide_is_allowed_where_clerk_runs():
    key = "pk_live_" + base64.b64encode(b"clerk.mentorly.example$").decode()
    ours = directives(content_security_policy(key, clerk_ui=True))
    for directive, sources in CLERK_CSP_GUIDE.items():
        for source in sources:
            source = source.replace("FAPI_HOST", "https://clerk.mentorly.example")
            assert source in ours[directive], f"{directive} lacks {source}"
    # Pages without ClerkJS keep inline styles out.
    assert "'unsafe-inline'" not in directives(content_security_policy(key))["style-src"]
