"""The instance's RS256 signing key, its JWKS, and Clerk v2 session tokens."""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

DEFAULT_TOKEN_LIFETIME = 60
# The JOSE header's `cat` Clerk stamps on session tokens (JWT templates and machine tokens,
# signed with the same key, carry other categories).
SESSION_TOKEN_CATEGORY = "cl_B7d4PD111AAA"


class SigningKey:
    """An RSA key pair generated once and kept in `<state dir>/signing_key.pem`."""

    def __init__(self, state_dir: Path, kid: str) -> None:
        path = Path(state_dir) / "signing_key.pem"
        if path.exists():
            self.private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        else:
            self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = self.private_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            os.replace(tmp, path)
        self.kid = kid

    @property
    def public_pem(self) -> str:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        return {"keys": [{"kid": self.kid, "alg": "RS256", "use": "sig", "kty": "RSA", "n": jwk["n"], "e": jwk["e"]}]}

    def session_token(self, *, user_id: str, session_id: str, issuer: str, azp: str | None,
                      lifetime: int = DEFAULT_TOKEN_LIFETIME, now: int | None = None,
                      overrides: dict[str, Any] | None = None, header: dict[str, Any] | None = None) -> str:
        """A v2 session token; `overrides` replaces or adds claims and `header` header
        parameters (a None value removes one)."""
        iat = int(time.time()) if now is None else now
        claims: dict[str, Any] = {
            "azp": azp,
            "exp": iat + lifetime,
            "fva": [0, -1],
            "iat": iat,
            "iss": issuer,
            "jti": secrets.token_hex(10),
            "nbf": iat - 10,
            "sid": session_id,
            "sub": user_id,
            "v": 2,
        }
        for key, value in (overrides or {}).items():
            claims[key] = value
        claims = {key: value for key, value in claims.items() if value is not None}
        headers = {"cat": SESSION_TOKEN_CATEGORY, "kid": self.kid, "typ": "JWT", **(header or {})}
        headers = {key: value for key, value in headers.items() if value is not None}
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers=headers)
