"""Clerk session tokens: where to find them, how to verify them.

A token is accepted only if it is RS256, signed by the instance's key (the PEM in CLERK_JWT_KEY,
with no network, or the JWKS, cached, refetched once when an unknown `kid` appears), within its
`exp`/`nbf` (5 s leeway, as Clerk's SDKs allow), from an allowed origin (`azp`, when configured),
names a user (`sub`), and is not a pending session (`sts`).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from typing import Any, Callable, Mapping

import jwt
from jwt.algorithms import RSAAlgorithm

LEEWAY_SECONDS = 5
# Unknown kids can be sent by anyone: refetching the JWKS for each would let them hammer Clerk.
JWKS_REFETCH_INTERVAL = 30.0


class SessionTokenError(Exception):
    """The token does not sign anyone in."""


class SessionTokenExpired(SessionTokenError):
    """A genuine token that has expired: ClerkJS can refresh it."""


def frontend_api_host(publishable_key: str) -> str:
    """`pk_test_<base64("host$")>` → host (ClerkJS loads from there)."""
    _, _, encoded = publishable_key.partition("_")
    _, _, encoded = encoded.partition("_")
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("CLERK_PUBLISHABLE_KEY is not a Clerk publishable key") from exc
    if not decoded.endswith("$"):
        raise ValueError("CLERK_PUBLISHABLE_KEY is not a Clerk publishable key")
    return decoded[:-1]


def frontend_api_url(publishable_key: str) -> str:
    host = frontend_api_host(publishable_key)
    local = host.split(":")[0] in ("127.0.0.1", "localhost")
    return f"{'http' if local else 'https'}://{host}"


def cookie_suffix(publishable_key: str) -> str:
    """Newer ClerkJS writes `__session_<suffix>`: 8 chars of URL-safe base64 of SHA-1 of the key."""
    digest = hashlib.sha1(publishable_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:8]


def token_from_request(cookies: Mapping[str, str], authorization: str | None, publishable_key: str) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    suffix = cookie_suffix(publishable_key)
    return cookies.get(f"__session_{suffix}") or cookies.get("__session") or None


def client_uat(cookies: Mapping[str, str], publishable_key: str) -> int:
    """`__client_uat`: when the browser's Clerk client last changed while signed in; 0 = signed out."""
    value = cookies.get(f"__client_uat_{cookie_suffix(publishable_key)}") or cookies.get("__client_uat") or "0"
    try:
        return int(value)
    except ValueError:
        return 0


class SessionVerifier:
    def __init__(
        self,
        *,
        jwt_key: str | None,
        fetch_jwks: Callable[[], Mapping[str, Any]],
        authorized_parties: tuple[str, ...] = (),
    ) -> None:
        self.authorized_parties = authorized_parties
        self._static_key = RSAAlgorithm.from_jwk(_pem_to_jwk(jwt_key)) if jwt_key else None
        self._fetch_jwks = fetch_jwks
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise SessionTokenError("malformed token") from exc
        if header.get("alg") != "RS256":
            raise SessionTokenError("only RS256 tokens are accepted")
        key = self._static_key or self._jwks_key(header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise SessionTokenExpired("token expired") from exc
        except jwt.InvalidTokenError as exc:
            raise SessionTokenError(f"invalid token: {exc}") from exc
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise SessionTokenError("token names no user")
        if self.authorized_parties and claims.get("azp", "").rstrip("/") not in self.authorized_parties:
            raise SessionTokenError("token issued for another origin")
        if claims.get("sts") == "pending":
            raise SessionTokenError("session has pending tasks")
        return claims

    def _jwks_key(self, kid: Any) -> Any:
        if not isinstance(kid, str):
            raise SessionTokenError("token has no key id")
        with self._lock:
            if kid not in self._keys and time.monotonic() - self._fetched_at > JWKS_REFETCH_INTERVAL:
                self._refresh_keys()
            key = self._keys.get(kid)
        if key is None:
            raise SessionTokenError("token signed by an unknown key")
        return key

    def _refresh_keys(self) -> None:
        self._fetched_at = time.monotonic()
        jwks = self._fetch_jwks()
        keys = {}
        for jwk in jwks.get("keys", []):
            if jwk.get("kty") == "RSA" and jwk.get("kid"):
                keys[jwk["kid"]] = RSAAlgorithm.from_jwk(jwk)
        self._keys = keys


def _pem_to_jwk(pem: str) -> dict[str, Any]:
    """CLERK_JWT_KEY as Clerk's dashboard shows it (PEM, possibly with escaped newlines)."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = load_pem_public_key(pem.replace("\\n", "\n").encode())
    if not isinstance(key, RSAPublicKey):
        raise ValueError("CLERK_JWT_KEY must be an RSA public key")
    return RSAAlgorithm.to_jwk(key, as_dict=True)
