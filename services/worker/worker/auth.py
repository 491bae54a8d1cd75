"""Verification of the caller's Google-signed OIDC ID token (defence in depth behind Cloud Run IAM).

Outcomes, each meaning what it says:

- `InvalidToken` (HTTP 401): provably bad whatever Google's keys and clocks are: malformed, not RS256,
  wrong audience or issuer, living longer than a Google ID token can, expiring before it was issued,
  signed by a key we hold that does not verify it, or a signature removed where nothing trustworthy
  checked it.
- `CallerNotAllowed` (403): a valid token from an identity that may not call this service.
- `CertsUnavailable` (503): cannot tell now (no usable certificate for its key id: see certs.py).
- `NotValidNow` (503): a genuine token of an allowed caller whose only fault is its time window
  (expired, issued in the future, not valid yet): the clocks disagree, or the caller holds an old token.
  That is "cannot tell now", not a verdict on the job: a later attempt, with a fresh token or a clock
  that caught up, succeeds.

Two ways a token can be trusted (`Caller.verified_by`):

- `signature`: the worker verifies Google's RS256 signature itself, against its certificate cache.
- `cloud_run_iam`: the signature was replaced by `SIGNATURE_REMOVED_BY_GOOGLE` by Cloud Run's front
  end, which verified it before the request reached the container. Accepted only when the worker runs
  behind Cloud Run's IAM invoker check (`trust_cloud_run`, a deployment setting), only from the header
  Cloud Run checked, and with every claim still checked here. See docs/design.md §3.

The token is decoded once (strict base64url, JSON), its claims checked before any key is looked up, and
the signature verified with a public key parsed once per certificate. Reasons are fixed phrases: no part
of a token (not even a claim the caller chose) ever reaches a reason, hence never a log line.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from google.auth import crypt

from worker.certs import CertsCache, CertsUnavailable, HttpCertsSource

GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
CLOCK_SKEW_SECONDS = 10
# Google ID tokens live exactly one hour; anything longer was not minted by Google's token service.
MAX_TOKEN_LIFETIME_SECONDS = 3600 + CLOCK_SKEW_SECONDS
MAX_TOKEN_BYTES = 8192
# What Cloud Run's front end puts where the signature was, once it has checked the token.
SIGNATURE_REMOVED = "SIGNATURE_REMOVED_BY_GOOGLE"
# A JWS in compact form: three base64url segments without padding (the signature may be empty: alg none).
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_MAX_VERIFIERS = 64  # parsed public keys kept; Google publishes two or three at a time
# Signatures already verified, per exact token text: a caller reuses its token for up to an hour (the relay
# does), and the same bytes under the same key verify the same way every time. Claims, time and caller are
# still checked on every request; the entry counts only while its key is still the current one for its kid.
_MAX_VERIFIED_TOKENS = 1024

__all__ = [
    "SIGNATURE_REMOVED",
    "Caller",
    "CallerNotAllowed",
    "CertsUnavailable",
    "InvalidToken",
    "NotValidNow",
    "TokenVerifier",
    "bearer_token",
    "parse_token",
]


class InvalidToken(Exception):
    """Missing, malformed, badly signed or mis-addressed token: HTTP 401."""


class CallerNotAllowed(Exception):
    """A valid token from an identity that may not call this service: HTTP 403."""

    def __init__(self, caller: Caller) -> None:
        super().__init__("caller is not an allowed invoker")
        self.caller = caller


class NotValidNow(Exception):
    """A genuine token of an allowed caller, outside its time window by this worker's clock: HTTP 503."""

    def __init__(self, reason: str, retry_after: int, caller: Caller) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.caller = caller


@dataclass(frozen=True)
class Caller:
    email: str
    subject: str
    audience: str
    kind: str | None = None  # "relay" or "operator" for an allowed invoker; None when not allowed
    verified_by: str = "signature"  # or "cloud_run_iam": see the module docstring


@dataclass(frozen=True)
class Token:
    """A compact JWS decoded once: header and claims as JSON objects, the signed bytes and the signature."""

    text: str
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes | None  # None: removed by Cloud Run's front end (SIGNATURE_REMOVED)

    @property
    def stripped(self) -> bool:
        return self.signature is None


def is_number(value: Any) -> TypeGuard[int | float]:
    # JSON parsed by Python admits NaN and Infinity; neither is a time.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _segment(text: str) -> bytes:
    """Strict base64url: the canonical encoding only (no padding, no stray bits), else InvalidToken."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("malformed token") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != text.encode():
        raise InvalidToken("malformed token")
    return raw


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidToken("malformed token") from None
    if not isinstance(value, dict):
        raise InvalidToken("malformed token")
    return value


def parse_token(token: str) -> Token:
    """Decodes a compact JWS once, strictly; InvalidToken("malformed token") for anything else."""
    if not _COMPACT_JWS.fullmatch(token):
        raise InvalidToken("malformed token")
    header_text, claims_text, signature_text = token.split(".")
    header = _json_object(_segment(header_text))
    claims = _json_object(_segment(claims_text))
    signature = None if signature_text == SIGNATURE_REMOVED else _segment(signature_text)
    return Token(token, header, claims, f"{header_text}.{claims_text}".encode(), signature)


def check_claims(claims: Mapping[str, Any], audience: str) -> None:
    """Everything about the claims that makes a token invalid whoever signed it, at any time (InvalidToken)."""
    if claims.get("aud") != audience:
        raise InvalidToken("wrong audience")
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise InvalidToken("issuer is not Google")
    iat, exp, nbf = claims.get("iat"), claims.get("exp"), claims.get("nbf")
    if not is_number(iat) or not is_number(exp):
        raise InvalidToken("iat and exp must be numbers")
    if nbf is not None and not is_number(nbf):
        raise InvalidToken("nbf must be a number")
    if exp < iat:
        raise InvalidToken("expires before it was issued")
    if exp - iat > MAX_TOKEN_LIFETIME_SECONDS:
        raise InvalidToken("lifetime exceeds one hour")
    if claims.get("email_verified") is not True:
        raise InvalidToken("email_verified is not true")
    email = claims.get("email")
    if not isinstance(email, str) or not email or len(email) > 320:
        raise InvalidToken("no email claim")
    if not isinstance(claims.get("sub"), str):
        raise InvalidToken("no sub claim")


def time_fault(claims: Mapping[str, Any], now: float) -> tuple[str, int] | None:
    """Why the token is outside its time window by `now` (with the bounded skew), and when to retry; or None.

    Call after check_claims (iat, exp and nbf are numbers)."""
    iat, exp, nbf = claims["iat"], claims["exp"], claims.get("nbf")
    if exp + CLOCK_SKEW_SECONDS < now:
        return "token expired by this worker's clock", 5
    starts = max(iat, nbf if nbf is not None else iat)
    if starts - CLOCK_SKEW_SECONDS > now:
        what = "issued in the future" if iat - CLOCK_SKEW_SECONDS > now else "not valid yet (nbf)"
        return f"token {what} by this worker's clock", min(max(math.ceil(starts - CLOCK_SKEW_SECONDS - now), 1), 300)
    return None


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
        *,
        trust_cloud_run: bool = False,
    ) -> None:
        """`allowed_invokers` maps each allowed email (ASCII, lowercase) to its kind ("relay", "operator").

        `trust_cloud_run`: the worker runs behind Cloud Run's IAM invoker check (a deployment setting, never
        something a request can say), so a token whose signature Cloud Run removed was verified by Cloud Run."""
        self.audience = audience
        self.allowed_invokers = {normalise_email(e) or "": kind for e, kind in allowed_invokers.items()}
        self.allowed_invokers.pop("", None)
        self.certs = certs if isinstance(certs, CertsCache) else CertsCache(HttpCertsSource(certs))
        self.trust_cloud_run = trust_cloud_run
        self._verifiers: dict[str, crypt.RSAVerifier] = {}  # PEM certificate -> its parsed public key
        self._verified: dict[str, tuple[Token, str]] = {}  # token text -> (its decoding, the PEM that verified it)
        self._lock = threading.Lock()

    def verify(self, authorization: str | None, serverless_authorization: str | None = None) -> Caller:
        """The caller of a request with these two headers, or the exception that says why not.

        `serverless_authorization` (X-Serverless-Authorization) matters only behind Cloud Run's IAM check:
        when present, it is the header Cloud Run checked, and Authorization reached us untouched."""
        if authorization is not None:
            text = bearer_token(authorization)
            seen = self._verified.get(text)
            if seen is not None:
                return self._verify_signed(seen[0], seen[1])
            token: Token | None = parse_token(text)
        else:
            token = None
        if token is not None and not token.stripped:
            return self._verify_signed(token)
        if not self.trust_cloud_run:
            if token is None:
                raise InvalidToken("no Authorization header")
            raise InvalidToken("signature removed, and this worker is not behind Cloud Run's IAM check")
        if serverless_authorization is not None:
            if token is not None:
                # Cloud Run checked X-Serverless-Authorization and passed Authorization through untouched:
                # a signature-removed token there was written by the caller, not by Cloud Run.
                raise InvalidToken("signature removed from Authorization, which Cloud Run did not check")
            checked = parse_token(bearer_token(serverless_authorization))
            if not checked.stripped:
                raise InvalidToken("X-Serverless-Authorization was not checked by Cloud Run")
        elif token is None:
            raise InvalidToken("no Authorization header")
        else:
            checked = token
        return self._verify_checked_by_cloud_run(checked)

    def _verify_signed(self, token: Token, verified_with: str | None = None) -> Caller:
        header = token.header
        if header.get("alg") != "RS256":
            raise InvalidToken("algorithm is not RS256")
        kid = header.get("kid")
        if kid is not None and not (isinstance(kid, str) and 0 < len(kid) <= 128):
            raise InvalidToken("malformed key id")
        check_claims(token.claims, self.audience)  # before any key lookup: junk never costs a certs fetch
        keys = self.certs.keys_for(kid)  # CertsUnavailable: cannot tell now
        pems = [keys[kid]] if kid is not None else list(keys.values())
        if verified_with is None or verified_with not in pems:
            signature = token.signature or b""
            verified_with = next(
                (pem for pem in pems if self._verifier(pem).verify(token.signing_input, signature)), None
            )
            if verified_with is None:
                raise InvalidToken("signature does not verify")
            with self._lock:
                if len(self._verified) >= _MAX_VERIFIED_TOKENS:
                    self._verified.pop(next(iter(self._verified)))
                self._verified[token.text] = (token, verified_with)
        return self._allowed(token.claims, "signature")

    def _verify_checked_by_cloud_run(self, token: Token) -> Caller:
        # Cloud Run's front end verified the signature and removed it; every claim is still ours to check.
        if token.header.get("alg") != "RS256":
            raise InvalidToken("algorithm is not RS256")
        check_claims(token.claims, self.audience)
        return self._allowed(token.claims, "cloud_run_iam")

    def _allowed(self, claims: Mapping[str, Any], verified_by: str) -> Caller:
        email: str = claims["email"]
        kind = self.allowed_invokers.get(normalise_email(email) or "")
        caller = Caller(email, claims["sub"], self.audience, kind, verified_by)
        if kind is None:
            raise CallerNotAllowed(caller)
        fault = time_fault(claims, time.time())
        if fault is not None:
            raise NotValidNow(fault[0], fault[1], caller)
        return caller

    def _verifier(self, pem: str) -> crypt.RSAVerifier:
        verifier = self._verifiers.get(pem)
        if verifier is None:
            try:
                verifier = crypt.RSAVerifier.from_string(pem)
            except Exception:
                raise InvalidToken("signature does not verify") from None  # a key we cannot load verifies nothing
            with self._lock:
                if len(self._verifiers) >= _MAX_VERIFIERS:
                    self._verifiers.clear()
                self._verifiers[pem] = verifier
        return verifier


def bearer_token(authorization: str | None) -> str:
    """The token of `Bearer <token>` (RFC 6750: the scheme, one or more spaces, one token, nothing else)."""
    if not authorization:
        raise InvalidToken("no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.lstrip(" ")
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken("Authorization header is not `Bearer <token>`")
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("token too long")
    if not token.isascii():
        raise InvalidToken("malformed token")
    if len(token.split(None, 1)) > 1:  # `Bearer <token> !!!`: one token, nothing after it
        raise InvalidToken("Authorization header is not `Bearer <token>`")
    return token
