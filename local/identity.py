"""A local stand-in for the GCE/Cloud Run metadata server and Google's OAuth2 certs endpoint.

google-auth talks to it unchanged when GCE_METADATA_HOST and GCE_METADATA_IP point here (and
GOOGLE_APPLICATION_CREDENTIALS is unset). It mints RS256 ID tokens for `--email`, signed with the
RSA key in `--key` (created if absent), and serves that key's certificate at /oauth2/v1/certs with
Cache-Control, the way https://www.googleapis.com/oauth2/v1/certs does. Several instances may share
one key file with different emails: that is how a second caller is simulated.

    python -m local.identity --port PORT --email EMAIL --key FILE

GET /_stats returns counters (tokens minted, certs served, ...) so tests can prove caching.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

ISSUER = "https://accounts.google.com"
SA_PATH = "/computeMetadata/v1/instance/service-accounts/default/"
IDENTITY_PATH = SA_PATH + "identity"
CERTS_PATH = "/oauth2/v1/certs"


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


class Identity:
    def __init__(self, email: str, key: rsa.RSAPrivateKey, token_lifetime: int, certs_max_age: int) -> None:
        self.email = email
        self.kid = key_id(key)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.signer = crypt.RSASigner.from_string(pem, key_id=self.kid)
        self.certs_body = json.dumps({self.kid: self_signed_cert(key, "secure-invoke local identity").decode()})
        self.token_lifetime = token_lifetime
        self.certs_max_age = certs_max_age
        self.counters = {"pings": 0, "service_account_info": 0, "identity_tokens": 0, "certs_served": 0, "rejected": 0}
        self._lock = threading.Lock()

    def count(self, name: str) -> None:
        with self._lock:
            self.counters[name] += 1

    def mint(self, audience: str) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": audience,
            "azp": subject_for(self.email),
            "sub": subject_for(self.email),
            "email": self.email,
            "email_verified": True,
            "iat": now,
            "exp": now + self.token_lifetime,
        }
        return jwt.encode(self.signer, claims).decode()


def make_handler(identity: Identity) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the real server; every response has a length
        server_version = "Metadata Server for VM"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            pass  # counters at /_stats are the record; per-request lines would drown test output

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
                identity.count("certs_served")
                cache = f"public, max-age={identity.certs_max_age}, must-revalidate, no-transform"
                return self._send(200, identity.certs_body, "application/json; charset=UTF-8", {"Cache-Control": cache})
            if url.path == "/_stats":
                with identity._lock:
                    stats = dict(identity.counters, email=identity.email, kid=identity.kid)
                return self._send(200, json.dumps(stats), "application/json")
            if url.path != "/" and not url.path.startswith("/computeMetadata/"):
                return self._send(404, "Not Found\n", "text/plain")
            # The real server refuses requests without this header (a guard against SSRF).
            if self.headers.get("Metadata-Flavor") != "Google":
                identity.count("rejected")
                return self._send(403, "Missing required header: Metadata-Flavor: Google\n", "text/html")
            if url.path == "/":
                identity.count("pings")
                return self._send(200, "computeMetadata/\n", "application/text")
            if url.path == SA_PATH and query.get("recursive") == "true":
                identity.count("service_account_info")
                info = {
                    "aliases": ["default"],
                    "email": identity.email,
                    "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                }
                return self._send(200, json.dumps(info), "application/json")
            if url.path in (SA_PATH + "email", f"/computeMetadata/v1/instance/service-accounts/{identity.email}/email"):
                return self._send(200, identity.email, "application/text")
            if url.path == IDENTITY_PATH:
                audience = query.get("audience", "")
                if not audience:
                    return self._send(400, "non-empty audience parameter required\n", "text/html")
                identity.count("identity_tokens")
                return self._send(200, identity.mint(audience), "text/html")
            return self._send(404, "Not Found\n", "text/html")

    return Handler


def serve(identity: Identity, host: str, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(identity))
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.identity", description="Local stand-in for the GCE metadata server."
    )
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--email", required=True, help="service-account email the tokens are minted for")
    parser.add_argument("--key", type=Path, required=True, help="PEM RSA private key file, created if absent")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token-lifetime", type=int, default=3600, help="ID token lifetime, seconds")
    parser.add_argument("--certs-max-age", type=int, default=3600, help="Cache-Control max-age of the certs")
    args = parser.parse_args(argv)
    try:
        if args.email.count("@") != 1:
            raise IdentityError(f"--email {args.email!r} is not an email address")
        if not 60 <= args.token_lifetime <= 12 * 3600:
            raise IdentityError("--token-lifetime must be between 60 and 43200 seconds")
        if args.certs_max_age < 0:
            raise IdentityError("--certs-max-age must be >= 0")
        identity = Identity(args.email, load_or_create_key(args.key), args.token_lifetime, args.certs_max_age)
        server = serve(identity, args.host, args.port)
    except (IdentityError, OSError) as exc:
        print(f"local.identity: {exc}", file=sys.stderr)
        return 2
    host, port = server.server_address[:2]
    print(
        json.dumps({"event": "ready", "url": f"http://{host}:{port}", "email": identity.email, "kid": identity.kid}),
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
