"""Clerk session tokens: where to find them, how to verify them.

A token is accepted only if it is RS256, signed by the instance's key (the PEM in CLERK_JWT_KEY,
with no network, or the JWKS, cached, refetched once when an unknown `kid` appears), within its
`exp`/`nbf` (5 s leeway, as Clerk's SDKs allow), from an allowed origin (`azp`, when configured),
and a session token: Clerk signs JWT templates and machine tokens with the same key, so the
header's `cat` (when present) must be the session category, and the token must name its session
(`sid`) and a Clerk user id (`sub`). Every claim read is type-checked: a malformed one means
"not signed in", never an error. A pending session (`sts`) is told apart, so that the person
is sent to finish its task rather than round in circles.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
from typing import Any, Callable, Mapping

import jwt
from jwt.algorithms import RSAAlgorithm

LEEWAY_SECONDS = 5
# The JOSE header's `cat`: what kind of Clerk JWT this is (as @clerk/backend tells them apart).
# The "ignore" category is stamped on every kind by some instances, so it says nothing; an
# absent `cat` is a token minted before categories existed.
SESSION_CATEGORIES = ("cl_B7d4PD111AAA", "cl_I7d4PD111III")
# Clerk's object ids: a prefix and base62 characters.
USER_ID = re.compile(r"user_[A-Za-z0-9]{1,60}")
SESSION_ID = re.compile(r"sess_[A-Za-z0-9]{1,60}")
# Unknown kids can be sent by anyone: refetching the JWKS for each would let them hammer Clerk.
JWKS_REFETCH_INTERVAL = 30.0


class SessionTokenError(Exception):
    """The token does not sign anyone in."""


class SessionTokenExpired(SessionTokenError):
    """A genuine token that has expired: ClerkJS can refresh it. `claims` are its verified
    claims (the signature holds, only `exp` is past): sign-out still learns the `sid` to end."""

    def __init__(self, message: str, claims: dict[str, Any]) -> None:
        super().__init__(message)
        self.claims = claims


class SessionPending(SessionTokenError):
    """A genuine token of a session with tasks left (`sts: pending`): not signed in yet."""


def is_user_id(value: Any) -> bool:
    return isinstance(value, str) and USER_ID.fullmatch(value) is not None


def is_session_id(value: Any) -> bool:
    return isinstance(value, str) and SESSION_ID.fullmatch(value) is not None


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
        self._fetched_at = float("-inf")  # never: monotonic time may start near 0 at boot
        self._lock = threading.Lock()

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid session token; SessionTokenError (or a subclass) otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise SessionTokenError("malformed token") from exc
        if header.get("alg") != "RS256":
            raise SessionTokenError("only RS256 tokens are accepted")
        if "cat" in header and header["cat"] not in SESSION_CATEGORIES:
            raise SessionTokenError("not a session token (a JWT template or machine token)")
        key = self._static_key or self._jwks_key(header.get("kid"))
        try:
            claims = _decode(token, key)
        except jwt.ExpiredSignatureError as exc:
            try:  # genuine but expired: its claims still say which session it was
                expired = _decode(token, key, verify_exp=False)
            except jwt.InvalidTokenError as again:
                raise SessionTokenError(f"invalid token: {again}") from again
            _check_claims(expired)
            raise SessionTokenExpired("token expired", expired) from exc
        except jwt.InvalidTokenError as exc:
            raise SessionTokenError(f"invalid token: {exc}") from exc
        _check_claims(claims)
        if self.authorized_parties and claims.get("azp", "").rstrip("/") not in self.authorized_parties:
            raise SessionTokenError("token issued for another origin")
        if claims.get("sts") == "pending":
            raise SessionPending("session has pending tasks")
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


def _decode(token: str, key: Any, *, verify_exp: bool = True) -> dict[str, Any]:
    return jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        leeway=LEEWAY_SECONDS,
        options={"require": ["exp", "iat", "sub", "sid"], "verify_aud": False, "verify_exp": verify_exp},
    )


def _check_claims(claims: Mapping[str, Any]) -> None:
    """Each claim the app reads has the type Clerk gives it."""
    if not is_user_id(claims.get("sub")):
        raise SessionTokenError("sub is not a Clerk user id")
    if not is_session_id(claims.get("sid")):
        raise SessionTokenError("sid is not a Clerk session id")
    for name in ("azp", "iss", "sts"):
        if name in claims and not isinstance(claims[name], str):
            raise SessionTokenError(f"{name} is not a string")
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, int)):
            raise SessionTokenError(f"{name} is not a time in seconds")
    fva = claims.get("fva")
    if fva is not None and not (
        isinstance(fva, list) and len(fva) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in fva)
    ):
        raise SessionTokenError("fva is not two whole numbers of minutes")


def _pem_to_jwk(pem: str) -> dict[str, Any]:
    """CLERK_JWT_KEY as Clerk's dashboard shows it (PEM, possibly with escaped newlines)."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = load_pem_public_key(pem.replace("\\n", "\n").encode())
    if not isinstance(key, RSAPublicKey):
        raise ValueError("CLERK_JWT_KEY must be an RSA public key")
    return RSAAlgorithm.to_jwk(key, as_dict=True)
