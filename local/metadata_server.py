"""A local stand-in for the GCE/Cloud Run metadata server and Google's OAuth2 endpoints.

google-auth talks to it unchanged when GCE_METADATA_HOST and GCE_METADATA_IP point here (and
GOOGLE_APPLICATION_CREDENTIALS is unset). It mints RS256 ID tokens for `--email`, signed with the
RSA key in `--key` (created if absent), and serves that key's certificate at /oauth2/v1/certs with
Cache-Control, the way https://www.googleapis.com/oauth2/v1/certs does. Several instances may share
one key file with different emails: that is how a second caller is simulated.

It also hands out opaque OAuth2 access tokens at `.../service-accounts/default/token` (what
google-auth's compute_engine.Credentials asks for) and answers `/tokeninfo?access_token=...` in the
shape of https://oauth2.googleapis.com/tokeninfo, so another stand-in (local.pubsub) can tell who
holds a token.

    python -m local.metadata_server --port PORT --email EMAIL --key FILE

Control paths, not part of any Google API: GET /_stats returns counters (tokens minted, certs
served, ...) so tests can prove caching; POST /_rotate?publish_after=SECONDS switches signing to a
fresh key at once and adds it to the certs only after that delay (the old key stays published),
which is how a rotation that reaches a verifier late is simulated. POST /_fault?identity=MODE makes
the identity path misbehave until set back to `ok`: `hang` (never answers), `trickle` (the status line
and headers a byte every 0.2 s, never finished), `malformed` (200 with a token and a stray segment),
`quoting` (400 whose text quotes a valid token); GET /_tokens lists the ID tokens minted, so a test can
look for them where they must not be. `--clock-offset SECONDS` runs the stand-in's clock ahead (or,
negative, behind): what a skewed token issuer looks like.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

from local.serving import QuietHandler, loopback_server, port_number, serve_until_interrupted

ISSUER = "https://accounts.google.com"
SA_PATH = "/computeMetadata/v1/instance/service-accounts/default/"
IDENTITY_PATH = SA_PATH + "identity"
CERTS_PATH = "/oauth2/v1/certs"
TOKENINFO_PATH = "/tokeninfo"
UNIVERSE_PATH = "/computeMetadata/v1/universe/universe-domain"
DEFAULT_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


class IdentityError(Exception):
    """A bad command-line input (key file, email, ...); printed as one line."""


def load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    """Reads the PEM private key at `path`, creating it (mode 0600) atomically when absent."""
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")
        try:
            os.write(fd, pem)
            os.close(fd)
            # link() never replaces: when two instances race, both end up using the winner's key.
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise IdentityError(f"--key {path}: not a readable unencrypted PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise IdentityError(f"--key {path}: not an RSA private key")
    return key


def key_id(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:40]


def self_signed_cert(key: rsa.RSAPrivateKey, common_name: str) -> bytes:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def subject_for(email: str) -> str:
    # Google's `sub` for a service account is a stable 21-digit number; derive one from the email.
    return str(int(hashlib.sha256(email.encode()).hexdigest(), 16))[:21]


class _SigningKey:
    def __init__(self, key: rsa.RSAPrivateKey, published_at: float) -> None:
        self.kid = key_id(key)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.signer = crypt.RSASigner.from_string(pem, key_id=self.kid)
        self.cert = self_signed_cert(key, "secure-invoke local identity").decode()
        self.published_at = published_at


IDENTITY_FAULTS = ("ok", "hang", "trickle", "malformed", "quoting")


class Identity:
    def __init__(
        self, email: str, key: rsa.RSAPrivateKey, token_lifetime: int, certs_max_age: int, clock_offset: float = 0.0
    ) -> None:
        self.email = email
        self.token_lifetime = token_lifetime
        self.certs_max_age = certs_max_age
        self.clock_offset = clock_offset
        self.identity_fault = "ok"
        self.fault_cleared = threading.Event()
        self.minted: list[str] = []
        # Oldest first; tokens are signed with the last one, the certs list those already published.
        self._keys = [_SigningKey(key, published_at=0.0)]
        self._access_tokens: dict[str, tuple[str, str, float]] = {}  # token -> (email, scope, expiry)
        self.counters = {
            "pings": 0,
            "service_account_info": 0,
            "identity_tokens": 0,
            "identity_requests": 0,
            "access_tokens": 0,
            "tokeninfo": 0,
            "certs_served": 0,
            "rejected": 0,
            "rotations": 0,
        }
        self._lock = threading.Lock()

    @property
    def kid(self) -> str:
        """The key id tokens are signed with now."""
        return self._keys[-1].kid

    @property
    def signer(self) -> crypt.RSASigner:
        """The signer tokens are signed with now (the newest key, published or not yet)."""
        return self._keys[-1].signer

    def count(self, name: str) -> None:
        with self._lock:
            self.counters[name] += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return dict(self.counters, email=self.email, kid=self.kid, published=self._published_kids())

    def _published_kids(self) -> list[str]:
        now = time.time()
        return [k.kid for k in self._keys if k.published_at <= now]

    @property
    def certs_body(self) -> str:
        """What /oauth2/v1/certs serves now: every key already published, as {kid: PEM certificate}."""
        now = time.time()
        with self._lock:
            return json.dumps({k.kid: k.cert for k in self._keys if k.published_at <= now})

    def rotate(self, publish_after: float) -> str:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        signing = _SigningKey(key, published_at=time.time() + publish_after)
        with self._lock:
            self._keys.append(signing)
            self.counters["rotations"] += 1
        return signing.kid

    def set_fault(self, mode: str) -> None:
        with self._lock:
            self.identity_fault = mode
        if mode == "ok":
            self.fault_cleared.set()
        else:
            self.fault_cleared.clear()

    def mint(self, audience: str, include_email: bool = True) -> str:
        """An ID token for `audience`; with `email` and `email_verified` only if `include_email` (the metadata
        server's `format=full` includes them; IAM Credentials only when asked with `includeEmail: true`)."""
        now = int(time.time() + self.clock_offset)
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": audience,
            "azp": subject_for(self.email),
            "sub": subject_for(self.email),
            "iat": now,
            "exp": now + self.token_lifetime,
        }
        if include_email:
            claims |= {"email": self.email, "email_verified": True}
        with self._lock:
            signer = self.signer
        token = jwt.encode(signer, claims).decode()
        with self._lock:
            self.minted.append(token)
        return token

    def access_token(self, scopes: str) -> dict[str, Any]:
        # Opaque, like Google's: only this stand-in can say whose it is (at /tokeninfo).
        token = "ya29.local-" + secrets.token_urlsafe(32)
        with self._lock:
            self._access_tokens[token] = (self.email, scopes, time.time() + self.token_lifetime)
            self.counters["access_tokens"] += 1
        return {"access_token": token, "expires_in": self.token_lifetime - 1, "token_type": "Bearer"}

    def token_info(self, token: str) -> dict[str, Any] | None:
        with self._lock:
            self.counters["tokeninfo"] += 1
            found = self._access_tokens.get(token)
        if found is None or found[2] <= time.time():
            return None
        email, scope, expiry = found
        return {
            "azp": subject_for(email),
            "aud": subject_for(email),
            "sub": subject_for(email),
            "scope": scope,
            "exp": str(int(expiry)),
            "expires_in": str(int(expiry - time.time())),
            "email": email,
            "email_verified": "true",
            "access_type": "online",
        }


class MetadataHandler(QuietHandler):
    """The metadata server's paths and Google's certs and tokeninfo endpoints, for one identity."""

    identity: Identity  # bound per server by make_handler

    server_version = "Metadata Server for VM"
    sys_version = ""

    def _send(self, status: int, body: str, content_type: str, extra: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Metadata-Flavor", "Google")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == CERTS_PATH:
            self.identity.count("certs_served")
            cache = f"public, max-age={self.identity.certs_max_age}, must-revalidate, no-transform"
            return self._send(
                200, self.identity.certs_body, "application/json; charset=UTF-8", {"Cache-Control": cache}
            )
        if url.path == TOKENINFO_PATH:
            info = self.identity.token_info(query.get("access_token", ""))
            if info is None:
                error = {"error": "invalid_token", "error_description": "Invalid Value"}
                return self._send(400, json.dumps(error), "application/json; charset=UTF-8")
            return self._send(200, json.dumps(info), "application/json; charset=UTF-8")
        if url.path == "/_stats":
            return self._send(200, json.dumps(self.identity.stats()), "application/json")
        if url.path == "/_tokens":
            with self.identity._lock:
                minted = list(self.identity.minted)
            return self._send(200, json.dumps({"identity": minted}), "application/json")
        if url.path != "/" and not url.path.startswith("/computeMetadata/"):
            return self._send(404, "Not Found\n", "text/plain")
        # The real server refuses requests without this header (a guard against SSRF).
        if self.headers.get("Metadata-Flavor") != "Google":
            self.identity.count("rejected")
            return self._send(403, "Missing required header: Metadata-Flavor: Google\n", "text/html")
        if url.path == "/":
            self.identity.count("pings")
            return self._send(200, "computeMetadata/\n", "application/text")
        if url.path == SA_PATH and query.get("recursive") == "true":
            self.identity.count("service_account_info")
            info = {
                "aliases": ["default"],
                "email": self.identity.email,
                "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
            }
            return self._send(200, json.dumps(info), "application/json")
        if url.path in (
            SA_PATH + "email",
            f"/computeMetadata/v1/instance/service-accounts/{self.identity.email}/email",
        ):
            return self._send(200, self.identity.email, "application/text")
        if url.path == IDENTITY_PATH:
            audience = query.get("audience", "")
            if not audience:
                return self._send(400, "non-empty audience parameter required\n", "text/html")
            self.identity.count("identity_requests")
            fault = self.identity.identity_fault
            if fault != "ok":
                return self._identity_fault(fault, audience)
            self.identity.count("identity_tokens")
            return self._send(200, self.identity.mint(audience), "text/html")
        if url.path in (
            SA_PATH + "token",
            f"/computeMetadata/v1/instance/service-accounts/{self.identity.email}/token",
        ):
            scopes = query.get("scopes", "") or " ".join(DEFAULT_SCOPES)
            token = self.identity.access_token(scopes.replace(",", " "))
            return self._send(200, json.dumps(token), "application/json")
        if url.path == UNIVERSE_PATH:
            return self._send(200, "googleapis.com", "application/text")
        return self._send(404, "Not Found\n", "text/html")

    def _identity_fault(self, fault: str, audience: str) -> None:
        if fault == "hang":
            self.identity.fault_cleared.wait(120)
            self.close_connection = True
            return None
        if fault == "trickle":
            head = b"HTTP/1.1 200 OK\r\nMetadata-Flavor: Google\r\nContent-Type: text/html\r\nX-Padding: " + b"a" * 4000
            for byte in head:
                if self.identity.fault_cleared.wait(0.2):
                    break
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:
                    break
            self.close_connection = True
            return None
        token = self.identity.mint(audience)
        if fault == "malformed":  # a stray fourth segment: google-auth's decode error quotes the whole answer
            return self._send(200, token + ".x", "text/html")
        return self._send(400, f"invalid request (last token issued: {token})\n", "text/html")

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if url.path == "/_rotate":
            try:
                publish_after = float(query.get("publish_after", "0"))
            except ValueError:
                return self._send(400, "publish_after must be a number of seconds\n", "text/plain")
            kid = self.identity.rotate(max(publish_after, 0.0))
            return self._send(200, json.dumps({"kid": kid}), "application/json")
        if url.path == "/_fault":
            mode = query.get("identity", "ok")
            if mode not in IDENTITY_FAULTS:
                return self._send(400, f"identity fault must be one of {', '.join(IDENTITY_FAULTS)}\n", "text/plain")
            self.identity.set_fault(mode)
            return self._send(200, json.dumps({"identity": mode}), "application/json")
        return self._send(404, "Not Found\n", "text/plain")


def make_handler(identity: Identity) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (MetadataHandler,), {"identity": identity})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.metadata_server", description="Local stand-in for the GCE metadata server."
    )
    parser.add_argument("--port", type=port_number, required=True, help="TCP port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--email", required=True, help="service-account email the tokens are minted for")
    parser.add_argument("--key", type=Path, required=True, help="PEM RSA private key file, created if absent")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token-lifetime", type=int, default=3600, help="ID token lifetime, seconds")
    parser.add_argument("--certs-max-age", type=int, default=3600, help="Cache-Control max-age of the certs")
    parser.add_argument(
        "--clock-offset", type=float, default=0.0, help="seconds this stand-in's clock runs ahead (negative: behind)"
    )
    args = parser.parse_args(argv)
    try:
        if args.email.count("@") != 1:
            raise IdentityError(f"--email {args.email!r} is not an email address")
        if not 60 <= args.token_lifetime <= 12 * 3600:
            raise IdentityError("--token-lifetime must be between 60 and 43200 seconds")
        if args.certs_max_age < 0:
            raise IdentityError("--certs-max-age must be >= 0")
        identity = Identity(
            args.email, load_or_create_key(args.key), args.token_lifetime, args.certs_max_age, args.clock_offset
        )
        server = loopback_server(args.host, args.port, make_handler(identity))
    except (IdentityError, OSError) as exc:
        print(f"local.metadata_server: {exc}", file=sys.stderr)
        return 2
    return serve_until_interrupted(server, email=identity.email, kid=identity.kid)


if __name__ == "__main__":
    sys.exit(main())
