"""A local stand-in for the IAM Service Account Credentials API (`generateIdToken`), and for the sign-in that
gives a person a credential of their own.

    POST /v1/projects/-/serviceAccounts/{email}:generateIdToken    Authorization: Bearer <person's token>
         {"audience": "...", "includeEmail": true, "delegates": []}  →  {"token": "<ID token for email>"}

The token carries `email` and `email_verified` only with `"includeEmail": true`, as Google's does (the
worker refuses a token without them).

The same path, request and response as https://iamcredentials.googleapis.com, so google-auth's
`impersonated_credentials.IDTokenCredentials` talks to it unchanged once its host is mapped here
(`local.operator.host_mapped_sessions`). A token is minted only while the caller holds a live grant of the
access file — the `operatorAccess` entries of the stack config, judged by principal (`user:`, or a `group:`
the person is in) and expiry at the moment of the call, as IAM judges the grant's condition. Each call writes
one JSON line shaped like the Cloud Audit Logs entry Google writes for it (method, caller, account, outcome).

    POST /_local/login  {"user": "alice@acme.com"}  →  {"access_token": "...", "expires_in": 3600}

stands in for the team's identity provider: the person's own short-lived credential (loopback only).

    python -m local.iam_credentials --port PORT --key FILE --access FILE

The access file: {"operator": EMAIL, "grants": [{principal, expires, reason}], "groups": {group: [users]}}.
Tokens are signed with the same key as the metadata stand-in's, so the worker verifies them with the same certs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from google.auth import jwt

from local.metadata_server import Identity, IdentityError, load_or_create_key
from local.serving import JsonHandler, loopback_server, port_number, serve_until_interrupted

GENERATE_ID_TOKEN = re.compile(r"^/v1/projects/-/serviceAccounts/([^/:]+@[^/:]+):generateIdToken$")
LOGIN_PATH = "/_local/login"
# The audience of people's own tokens: only this stand-in accepts them.
PERSON_AUDIENCE = "local-iam-credentials"
PERSON_ISSUER = "https://idp.secure-invoke.local"


@dataclass(frozen=True)
class Grant:
    principal: str
    expires: datetime
    reason: str


@dataclass(frozen=True)
class Access:
    operator: str
    grants: tuple[Grant, ...]
    groups: dict[str, frozenset[str]]

    def principals_of(self, user: str) -> set[str]:
        return {f"user:{user}"} | {f"group:{g}" for g, members in self.groups.items() if user in members}

    def live_grant(self, user: str, now: datetime) -> Grant | None:
        """The grant that lets `user` mint tokens now (`request.time < timestamp(expires)`), if any."""
        mine = self.principals_of(user)
        return next((g for g in self.grants if g.principal in mine and now < g.expires), None)


def load_access(path: Path) -> Access:
    try:
        raw: Any = json.loads(path.read_text())
        grants = tuple(
            Grant(g["principal"], datetime.fromisoformat(g["expires"]).astimezone(UTC), g.get("reason", ""))
            for g in raw["grants"]
        )
        groups = {name: frozenset(members) for name, members in raw.get("groups", {}).items()}
        operator = raw["operator"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IdentityError(f"--access {path}: not an access file ({type(exc).__name__}: {exc})") from None
    if not isinstance(operator, str) or operator.count("@") != 1:
        raise IdentityError(f"--access {path}: operator {operator!r} is not an email address")
    return Access(operator, grants, groups)


class Credentials:
    """Mints ID tokens for the operator account, and people's own tokens, with one key."""

    def __init__(self, access: Access, operator: Identity, token_lifetime: int) -> None:
        self.access = access
        self.operator = operator
        self.token_lifetime = token_lifetime
        self.certs = {operator.kid: json.loads(operator.certs_body)[operator.kid]}
        self.counters = {"logins": 0, "id_tokens": 0, "denied": 0, "unauthenticated": 0}
        self._lock = threading.Lock()

    def count(self, name: str) -> None:
        with self._lock:
            self.counters[name] += 1

    def login(self, user: str) -> str:
        now = int(time.time())
        claims = {"iss": PERSON_ISSUER, "aud": PERSON_AUDIENCE, "sub": user, "email": user, "iat": now}
        return jwt.encode(self.operator.signer, {**claims, "exp": now + self.token_lifetime}).decode()

    def person(self, authorization: str | None) -> str | None:
        """The verified person behind a bearer token of ours, or None."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            claims = jwt.decode(token, certs=self.certs, audience=PERSON_AUDIENCE)
        except (ValueError, KeyError):
            return None
        return claims.get("email") if claims.get("iss") == PERSON_ISSUER else None


def audit(method: str, caller: str | None, account: str, code: int, **fields: Any) -> None:
    # Cloud Audit Logs' field names, so the local trail reads like the real one.
    entry = {
        "severity": "NOTICE" if code == 0 else "WARNING",
        "message": f"{method} {'granted' if code == 0 else 'denied'}",
        "component": "iam-credentials",
        "protoPayload": {
            "serviceName": "iamcredentials.googleapis.com",
            "methodName": method,
            "authenticationInfo": {"principalEmail": caller},
            "resourceName": f"projects/-/serviceAccounts/{account}",
            "status": {"code": code},
        },
        **fields,
    }
    sys.stdout.write(json.dumps(entry) + "\n")
    sys.stdout.flush()


def _error(code: int, status: str, message: str) -> tuple[int, dict[str, Any]]:
    return code, {"error": {"code": code, "message": message, "status": status}}


class CredentialsHandler(JsonHandler):
    """generateIdToken for the operator account, and the local sign-in."""

    creds: Credentials  # bound per server by make_handler

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 <= length <= 64 * 1024:
            return None
        try:
            return json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return None

    def do_GET(self) -> None:
        if self.path == "/_stats":
            with self.creds._lock:
                return self.send_json(200, dict(self.creds.counters))
        return self.send_json(*_error(404, "NOT_FOUND", "not found"))

    def do_POST(self) -> None:
        body = self._body()
        if self.path == LOGIN_PATH:
            user = body.get("user") if isinstance(body, dict) else None
            if not isinstance(user, str) or user.count("@") != 1:
                return self.send_json(*_error(400, "INVALID_ARGUMENT", "user: an email address is required"))
            self.creds.count("logins")
            token = self.creds.login(user)
            return self.send_json(
                200, {"access_token": token, "token_type": "Bearer", "expires_in": self.creds.token_lifetime}
            )
        match = GENERATE_ID_TOKEN.match(self.path)
        if not match:
            return self.send_json(*_error(404, "NOT_FOUND", f"no method at {self.path}"))
        self._generate_id_token(match.group(1), body)

    def _generate_id_token(self, account: str, body: Any) -> None:
        caller = self.creds.person(self.headers.get("Authorization"))
        if caller is None:
            self.creds.count("unauthenticated")
            audit("GenerateIdToken", None, account, 16)
            return self.send_json(*_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."))
        audience = body.get("audience") if isinstance(body, dict) else None
        if not isinstance(audience, str) or not audience:
            return self.send_json(*_error(400, "INVALID_ARGUMENT", "audience is required"))
        grant = (
            self.creds.access.live_grant(caller, datetime.now(UTC)) if account == self.creds.access.operator else None
        )
        if grant is None:
            self.creds.count("denied")
            audit("GenerateIdToken", caller, account, 7)
            # Google's wording: it does not tell a missing account from a missing grant.
            return self.send_json(
                *_error(
                    403,
                    "PERMISSION_DENIED",
                    "Permission 'iam.serviceAccounts.getOpenIdToken' denied on resource (or it may not exist).",
                )
            )
        self.creds.count("id_tokens")
        audit("GenerateIdToken", caller, account, 0, granted_by=grant.principal, reason=grant.reason)
        # As the real API: `email` and `email_verified` only with "includeEmail": true (default false).
        include_email = isinstance(body, dict) and body.get("includeEmail") is True
        self.send_json(200, {"token": self.creds.operator.mint(audience, include_email=include_email)})


def make_handler(creds: Credentials) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (CredentialsHandler,), {"creds": creds})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.iam_credentials", description="Local stand-in for the IAM Credentials API."
    )
    parser.add_argument("--port", type=port_number, required=True, help="TCP port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--key", type=Path, required=True, help="PEM RSA private key file, created if absent")
    parser.add_argument("--access", type=Path, required=True, help="JSON access file (operator, grants, groups)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token-lifetime", type=int, default=3600, help="token lifetime, seconds")
    args = parser.parse_args(argv)
    try:
        access = load_access(args.access)
        operator = Identity(access.operator, load_or_create_key(args.key), args.token_lifetime, 3600)
        server = loopback_server(args.host, args.port, make_handler(Credentials(access, operator, args.token_lifetime)))
    except (IdentityError, OSError) as exc:
        print(f"local.iam_credentials: {exc}", file=sys.stderr)
        return 2
    return serve_until_interrupted(server, operator=access.operator)


if __name__ == "__main__":
    sys.exit(main())
