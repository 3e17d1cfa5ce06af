"""The Integrations section: the accounts (Google, GitHub, ...) connected through Clerk.

Every webhook and sync stores the user's `external_accounts` on the row, so a view makes no call
to Clerk. Connecting and disconnecting happen in Clerk's own profile UI; the webhook Clerk sends
afterwards updates the list here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response, g

from ..auth.session import onboarded_required
from . import bp
from .sections import render_section
from .security import clerk_profile_url

SLUG = "integrations"

# Clerk's provider ids as people know them; any other is derived from its id.
PROVIDER_NAMES = {
    "oauth_apple": "Apple",
    "oauth_atlassian": "Atlassian",
    "oauth_bitbucket": "Bitbucket",
    "oauth_box": "Box",
    "oauth_coinbase": "Coinbase",
    "oauth_discord": "Discord",
    "oauth_dropbox": "Dropbox",
    "oauth_facebook": "Facebook",
    "oauth_github": "GitHub",
    "oauth_gitlab": "GitLab",
    "oauth_google": "Google",
    "oauth_hubspot": "HubSpot",
    "oauth_huggingface": "Hugging Face",
    "oauth_instagram": "Instagram",
    "oauth_line": "LINE",
    "oauth_linear": "Linear",
    "oauth_linkedin": "LinkedIn",
    "oauth_linkedin_oidc": "LinkedIn",
    "oauth_microsoft": "Microsoft",
    "oauth_notion": "Notion",
    "oauth_slack": "Slack",
    "oauth_spotify": "Spotify",
    "oauth_tiktok": "TikTok",
    "oauth_twitch": "Twitch",
    "oauth_twitter": "X (Twitter)",
    "oauth_x": "X",
    "oauth_xero": "Xero",
}


def provider_name(provider: str | None) -> str:
    """`oauth_google` → Google; an unlisted `oauth_custom_acme_id` → Acme Id."""
    if not provider:
        return "Unknown provider"
    if provider in PROVIDER_NAMES:
        return PROVIDER_NAMES[provider]
    name = provider.removeprefix("oauth_").removeprefix("custom_").replace("_", " ").replace("-", " ").strip()
    return name.title() if name else provider


@dataclass(frozen=True)
class ConnectedAccount:
    provider: str
    provider_name: str
    account: str  # the email address, else the username, Clerk reports ("" if neither)
    verified: bool


def connected_accounts(external_accounts: list[dict[str, Any]] | None) -> list[ConnectedAccount]:
    accounts = [
        ConnectedAccount(
            provider=str(item.get("provider") or ""),
            provider_name=provider_name(item.get("provider")),
            account=str(item.get("email_address") or item.get("username") or ""),
            verified=bool(item.get("verified")),
        )
        for item in external_accounts or []
        if isinstance(item, dict)
    ]
    return sorted(accounts, key=lambda account: (account.provider_name.lower(), account.account.lower()))


@bp.get("/integrations")
@onboarded_required
def integrations() -> Response:
    return render_section(
        SLUG,
        accounts=connected_accounts(g.user.external_accounts),
        clerk_profile_url=clerk_profile_url(),
    )
