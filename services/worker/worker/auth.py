"""Verification of the caller's Google-signed OIDC ID token (defence in depth behind Cloud Run IAM)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cachecontrol
import google.auth.transport
import google.auth.transport.requests
import requests
from google.auth import exceptions as google_exceptions
from google.oauth2 import id_token

GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
CLOCK_SKEW_SECONDS = 10
CERTS_TIMEOUT_SECONDS = 5
MAX_TOKEN_BYTES = 8192
MAX_CERTS_REUSE_SECONDS = 24 * 3600


class InvalidToken(Exception):
    """Missing, malformed, badly signed, expired or mis-addressed token: HTTP 401."""


class CallerNotAllowed(Exception):
    """A valid token from an identity that may not call this service: HTTP 403."""

    def __init__(self, email: str) -> None:
        super().__init__(f"caller {email} is not an allowed invoker")
        self.email = email


class CertsUnavailable(Exception):
    """The signing certificates could not be fetched: HTTP 503, the caller retries."""


@dataclass(frozen=True)
class Caller:
    email: str
    subject: str


class _CertsRequest(google.auth.transport.Request):
    """google-auth transport for the certs URL: fetched at most once per max-age.

    The fetch path is a CacheControl session (HTTP caching semantics: max-age, Expires, ETag
    revalidation). In front of it, the last response is reused without any HTTP machinery while
    its Cache-Control max-age lasts: a cache hit through the session costs ~0.9 ms here, almost
    all of what verification added to a call. Fetches are serialised, so when the certs expire
    concurrent verifications wait for one fetch instead of each fetching. A non-JSON certs body
    becomes a TransportError (503), not a token error (401).
    """

    def __init__(self) -> None:
        self._session = cachecontrol.CacheControl(requests.Session())
        self._request = google.auth.transport.requests.Request(session=self._session)
        self._lock = threading.Lock()
        self._fresh: tuple[str, google.auth.transport.Response, float] | None = None

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> google.auth.transport.Response:
        fresh = self._fresh
        if method == "GET" and fresh and fresh[0] == url and time.monotonic() < fresh[2]:
            return fresh[1]
        with self._lock:
            fresh = self._fresh
            if method == "GET" and fresh and fresh[0] == url and time.monotonic() < fresh[2]:
                return fresh[1]
            response = self._request(
                url, method=method, body=body, headers=headers, timeout=CERTS_TIMEOUT_SECONDS, **kwargs
            )
            if response.status != 200:
                return response
            try:
                if not isinstance(json.loads(response.data), dict):
                    raise ValueError("not an object")
            except ValueError:
                raise google_exceptions.TransportError(f"certs at {url} are not a JSON object") from None
            lifetime = fresh_seconds(response.headers)
            self._fresh = (url, response, time.monotonic() + lifetime) if lifetime > 0 else None
            return response


def fresh_seconds(headers: Mapping[str, str]) -> float:
    """How long a response may be reused: Cache-Control max-age minus Age, 0 if not cacheable."""
    lowered = {k.lower(): v for k, v in headers.items()}
    directives = [d.strip().lower() for d in lowered.get("cache-control", "").split(",")]
    if any(d in ("no-store", "no-cache") for d in directives):
        return 0.0
    for directive in directives:
        name, _, value = directive.partition("=")
        if name.strip() == "max-age":
            try:
                max_age = int(value.strip().strip('"'))
                age = int(lowered.get("age", "0").strip() or 0)
            except ValueError:
                return 0.0
            return float(min(max(max_age - age, 0), MAX_CERTS_REUSE_SECONDS))
    return 0.0


class TokenVerifier:
    def __init__(self, audience: str, allowed_invokers: frozenset[str], certs_url: str) -> None:
        self.audience = audience
        self.allowed_invokers = frozenset(e.lower() for e in allowed_invokers)
        self.certs_url = certs_url
        self._request = _CertsRequest()

    def verify(self, authorization: str | None) -> Caller:
        token = bearer_token(authorization)
        try:
            claims = id_token.verify_token(
                token,
                self._request,
                audience=self.audience,
                certs_url=self.certs_url,
                clock_skew_in_seconds=CLOCK_SKEW_SECONDS,
            )
        except google_exceptions.TransportError as exc:
            raise CertsUnavailable(str(exc)) from None
        except Exception as exc:
            # Any other failure while decoding attacker-controlled input fails closed.
            raise InvalidToken(_first_line(exc).replace(token, "<token>")) from None
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise InvalidToken(f"wrong issuer {claims.get('iss')!r}")
        if claims.get("email_verified") is not True:
            raise InvalidToken("email_verified is not true")
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            raise InvalidToken("token has no email claim")
        if email.lower() not in self.allowed_invokers:
            raise CallerNotAllowed(email)
        return Caller(email=email, subject=str(claims.get("sub", "")))


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise InvalidToken("no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken("Authorization header is not `Bearer <token>`")
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("token too long")
    return token


def _first_line(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}"
