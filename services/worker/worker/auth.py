"""Verification of the caller's Google-signed OIDC ID token (defence in depth behind Cloud Run IAM).

Three outcomes, each meaning what it says:

- `InvalidToken` (HTTP 401): provably bad whatever Google's keys are: malformed, not RS256, wrong
  audience or issuer, expired, not yet valid, living longer than a Google ID token can, or signed
  by a key we hold that does not verify it.
- `CallerNotAllowed` (403): a valid token from an identity that may not call this service.
- `CertsUnavailable` (503): cannot tell now (no usable certificate for its key id: see certs.py).

The claims are checked before the key is looked up, so a token that is invalid anyway is refused
without costing a certificate fetch. Reasons are fixed phrases: no part of a token (not even a
claim the caller chose) ever reaches a reason, hence never a log line.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from google.auth import jwt

from worker.certs import CertsCache, CertsUnavailable, HttpCertsSource

GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
CLOCK_SKEW_SECONDS = 10
# Google ID tokens live exactly one hour; anything longer was not minted by Google's token service.
MAX_TOKEN_LIFETIME_SECONDS = 3600 + CLOCK_SKEW_SECONDS
MAX_TOKEN_BYTES = 8192

__all__ = ["Caller", "CallerNotAllowed", "CertsUnavailable", "InvalidToken", "TokenVerifier", "bearer_token"]


class InvalidToken(Exception):
    """Missing, malformed, badly signed, expired or mis-addressed token: HTTP 401."""


class CallerNotAllowed(Exception):
    """A valid token from an identity that may not call this service: HTTP 403."""

    def __init__(self, caller: Caller) -> None:
        super().__init__("caller is not an allowed invoker")
        self.caller = caller


@dataclass(frozen=True)
class Caller:
    email: str
    subject: str
    audience: str
    kind: str | None = None  # "relay" or "operator" for an allowed invoker; None when not allowed


def is_number(value: Any) -> TypeGuard[int | float]:
    # JSON parsed by Python admits NaN and Infinity; neither is a time.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_claims(claims: Mapping[str, Any], audience: str, now: float) -> None:
    """Everything about the claims that makes a token invalid whoever signed it (InvalidToken)."""
    if claims.get("aud") != audience:
        raise InvalidToken("wrong audience")
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise InvalidToken("issuer is not Google")
    iat, exp, nbf = claims.get("iat"), claims.get("exp"), claims.get("nbf")
    if not is_number(iat) or not is_number(exp):
        raise InvalidToken("iat and exp must be numbers")
    if nbf is not None and not is_number(nbf):
        raise InvalidToken("nbf must be a number")
    if exp + CLOCK_SKEW_SECONDS < now:
        raise InvalidToken("expired")
    if iat - CLOCK_SKEW_SECONDS > now:
        raise InvalidToken("issued in the future")
    if nbf is not None and nbf - CLOCK_SKEW_SECONDS > now:
        raise InvalidToken("not valid yet (nbf)")
    if exp - iat > MAX_TOKEN_LIFETIME_SECONDS:
        raise InvalidToken("lifetime exceeds one hour")
    if claims.get("email_verified") is not True:
        raise InvalidToken("email_verified is not true")
    email = claims.get("email")
    if not isinstance(email, str) or not email or len(email) > 320:
        raise InvalidToken("no email claim")
    if not isinstance(claims.get("sub"), str):
        raise InvalidToken("no sub claim")


def normalise_email(email: str) -> str | None:
    """ASCII-lowercased address, or None for a non-ASCII one: str.lower() folds characters such as
    the Kelvin sign K into ASCII letters, which would let a look-alike address match."""
    return email.lower() if email.isascii() else None


class TokenVerifier:
    def __init__(
        self,
        audience: str,
        allowed_invokers: Mapping[str, str],
        certs: CertsCache | str,
    ) -> None:
        """`allowed_invokers` maps each allowed email (ASCII, lowercase) to its kind ("relay", "operator")."""
        self.audience = audience
        self.allowed_invokers = {normalise_email(e) or "": kind for e, kind in allowed_invokers.items()}
        self.allowed_invokers.pop("", None)
        self.certs = certs if isinstance(certs, CertsCache) else CertsCache(HttpCertsSource(certs))

    def verify(self, authorization: str | None) -> Caller:
        token = bearer_token(authorization)
        try:
            header = jwt.decode_header(token)
            claims = jwt.decode(token, verify=False)
        except Exception:
            raise InvalidToken("malformed token") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise InvalidToken("malformed token")
        if header.get("alg") != "RS256":
            raise InvalidToken("algorithm is not RS256")
        kid = header.get("kid")
        if kid is not None and not (isinstance(kid, str) and 0 < len(kid) <= 128):
            raise InvalidToken("malformed key id")
        check_claims(claims, self.audience, time.time())
        keys = self.certs.keys_for(kid)  # CertsUnavailable: cannot tell now
        try:
            jwt.decode(token, certs=keys, audience=self.audience, clock_skew_in_seconds=CLOCK_SKEW_SECONDS)
        except Exception:
            raise InvalidToken("signature does not verify") from None
        email: str = claims["email"]
        caller = Caller(email=email, subject=claims["sub"], audience=self.audience)
        kind = self.allowed_invokers.get(normalise_email(email) or "")
        if kind is None:
            raise CallerNotAllowed(caller)
        return Caller(email=email, subject=caller.subject, audience=self.audience, kind=kind)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise InvalidToken("no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken("Authorization header is not `Bearer <token>`")
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("token too long")
    if not token.isascii():
        raise InvalidToken("malformed token")
    return token
