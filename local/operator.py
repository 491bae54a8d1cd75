"""The operator's side of just-in-time access, locally: sign in as a person, then mint an ID token as the
operator account through google-auth's own impersonation code, as `gcloud auth print-identity-token
--impersonate-service-account=… --audiences=… --include-email` does against Google.

google-auth builds the IAM Credentials URL itself (https://iamcredentials.googleapis.com/…) and posts it
through an `AuthorizedSession` it creates inside `refresh()`. `host_mapped_sessions` swaps in a subclass
that mounts a transport adapter sending that host's requests to the local stand-in; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import google.auth.transport.requests as google_requests
import requests
from google.auth import impersonated_credentials
from google.oauth2 import credentials as user_credentials
from requests.adapters import HTTPAdapter

IAM_CREDENTIALS_HOST = "iamcredentials.googleapis.com"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


class HostMapAdapter(HTTPAdapter):
    """Sends requests for one https host to a local http base URL, path and query unchanged."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url or "")
        request.url = f"{self.base_url}{url.path}" + (f"?{url.query}" if url.query else "")
        return super().send(request, *args, **kwargs)


@contextmanager
def host_mapped_sessions(mapping: Mapping[str, str]) -> Iterator[None]:
    """While active, every AuthorizedSession google-auth creates sends `host` → `base URL` for each entry.

    The class keeps its identity (its __init__ calls `super(AuthorizedSession, self)`): only its __init__ is
    wrapped, and restored on exit."""
    session_class = google_requests.AuthorizedSession
    original_init = session_class.__init__

    def mapped_init(self: google_requests.AuthorizedSession, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        for host, base_url in mapping.items():
            self.mount(f"https://{host}/", HostMapAdapter(base_url))

    session_class.__init__ = mapped_init  # type: ignore[method-assign]
    try:
        yield
    finally:
        session_class.__init__ = original_init  # type: ignore[method-assign]


def sign_in(iam_url: str, user: str, timeout: float = 10) -> user_credentials.Credentials:
    """A person's own credential from the local identity provider (the stand-in's /_local/login)."""
    response = requests.post(f"{iam_url}/_local/login", json={"user": user}, timeout=timeout)
    response.raise_for_status()
    return user_credentials.Credentials(token=response.json()["access_token"])


def operator_id_token(person: user_credentials.Credentials, operator_email: str, audience: str, iam_url: str) -> str:
    """An ID token for `audience` as `operator_email`, minted by `person` through the IAM Credentials API.

    Raises google.auth.exceptions.RefreshError when the person holds no live grant (403 from the API)."""
    target = impersonated_credentials.Credentials(
        source_credentials=person, target_principal=operator_email, target_scopes=[CLOUD_PLATFORM], lifetime=300
    )
    id_token = impersonated_credentials.IDTokenCredentials(target, target_audience=audience, include_email=True)
    with host_mapped_sessions({IAM_CREDENTIALS_HOST: iam_url}):
        id_token.refresh(google_requests.Request())
    return id_token.token
