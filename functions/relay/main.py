"""Relay: a Pub/Sub-triggered gen2 Cloud Function that forwards each job to the private worker.

The worker is called with a Google-signed OIDC ID token minted from the metadata server for this
function's own service account (no key file). Failure policy, which decides Eventarc's retries:

- worker 5xx, 408, 429, timeouts, connection errors, token minting errors -> raise (retried)
- 401/403 without the worker's JSON error body -> raise (retried): Cloud Run's own invoker check
  answered, typically while a fresh roles/run.invoker grant is still propagating after a deploy
- any other non-2xx status (3xx, 1xx) -> raise (retried); redirects are never followed, so the
  token is never sent to another host
- malformed message, or any other 4xx from the worker itself -> logged with the reason and
  acknowledged (never retried)

Heavy imports (google-auth, requests) happen on the first invocation, not at import: the instance
is ready to accept its first event sooner, and functions_framework is loaded by the host anyway.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import functions_framework

if TYPE_CHECKING:
    import requests
    from cloudevents.http.event import CloudEvent
    from google.auth.transport.requests import Request

DEFAULT_TIMEOUT_SECONDS = 30.0
FUNCTION_TIMEOUT_CEILING = 540.0  # an event-driven function never runs longer


class RetryableError(RuntimeError):
    """Raised so the platform redelivers the event (the function returns 500)."""


class _Client:
    """Per-process HTTP session and ID-token credentials, created on first use and then reused."""

    def __init__(self, worker_url: str, audience: str, timeout: float) -> None:
        import google.auth.transport.requests
        import requests

        self.jobs_url = worker_url.rstrip("/") + "/jobs"
        self.audience = audience
        self.timeout = timeout
        self.session: requests.Session = requests.Session()
        # google-auth's metadata calls go through their own session, so pooled keep-alive
        # connections to the worker are never shared with token traffic.
        self.auth_request: Request = google.auth.transport.requests.Request(session=requests.Session())
        self._credentials: Any = None
        self._lock = threading.Lock()

    def token(self) -> str:
        from google.auth.credentials import TokenState

        creds = self._credentials
        if creds is not None and creds.token_state == TokenState.FRESH:
            return creds.token
        # One refresh at a time: concurrent invocations on a cold or stale instance share one mint.
        with self._lock:
            if self._credentials is None:
                import google.oauth2.id_token

                self._credentials = google.oauth2.id_token.fetch_id_token_credentials(
                    self.audience, request=self.auth_request
                )
            creds = self._credentials
            if creds.token_state != TokenState.FRESH:
                creds.refresh(self.auth_request)
            return creds.token


_client: _Client | None = None
_client_lock = threading.Lock()


def _config_error(message: str) -> RuntimeError:
    _log("ERROR", f"relay misconfigured: {message}")
    return RuntimeError(f"relay misconfigured: {message}")


def _get_client() -> _Client:
    global _client
    if _client is not None:
        return _client
    with _client_lock:
        if _client is None:
            worker_url = os.environ.get("WORKER_URL", "").strip()
            audience = os.environ.get("WORKER_AUDIENCE", "").strip()
            raw_timeout = os.environ.get("WORKER_TIMEOUT_SECONDS", "").strip()
            if not worker_url.startswith(("https://", "http://")):
                raise _config_error("WORKER_URL must be an http(s) base URL")
            if not audience:
                raise _config_error("WORKER_AUDIENCE is not set")
            try:
                timeout = float(raw_timeout) if raw_timeout else DEFAULT_TIMEOUT_SECONDS
            except ValueError:
                raise _config_error(f"WORKER_TIMEOUT_SECONDS is not a number: {raw_timeout!r}") from None
            if not 0 < timeout < FUNCTION_TIMEOUT_CEILING:
                raise _config_error(f"WORKER_TIMEOUT_SECONDS must be above 0 and below {FUNCTION_TIMEOUT_CEILING:g}")
            _client = _Client(worker_url, audience, timeout)
        return _client


def _is_worker_error(response: requests.Response) -> bool:
    """True when the body is the worker's own error format: a JSON object with a string `error`."""
    media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), str)


def _log(severity: str, message: str, **fields: Any) -> None:
    # One JSON object per line on stdout: Cloud Logging turns it into a structured entry and
    # reads `severity` and `message` from it.
    entry = {"severity": severity, "message": message, "component": "relay", **fields}
    sys.stdout.write(json.dumps(entry, default=str) + "\n")
    sys.stdout.flush()


class MalformedMessage(ValueError):
    pass


def parse_pubsub_event(data: Any, event_id: str | None) -> tuple[str, dict[str, Any], dict[str, str]]:
    """Returns (message id, job object, attributes) from a Pub/Sub messagePublished event's data."""
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except ValueError:
            raise MalformedMessage("event data is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("message"), dict):
        raise MalformedMessage("event data has no Pub/Sub `message` object")
    message: dict[str, Any] = data["message"]
    message_id = message.get("messageId") or message.get("message_id") or event_id
    if not isinstance(message_id, str) or not message_id:
        raise MalformedMessage("Pub/Sub message has no message id")
    attributes = message.get("attributes")
    attributes = {} if attributes is None else attributes
    if not isinstance(attributes, dict):
        raise MalformedMessage("Pub/Sub message attributes are not an object")
    encoded = message.get("data")
    if not isinstance(encoded, str) or not encoded:
        raise MalformedMessage("Pub/Sub message has no data")
    try:
        job = json.loads(base64.b64decode(encoded, validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise MalformedMessage("message data is not base64-encoded UTF-8 JSON") from None
    if not isinstance(job, dict):
        raise MalformedMessage("job is not a JSON object")
    if not isinstance(job.get("task"), str):
        raise MalformedMessage("job has no string `task`")
    return message_id, job, {str(k): str(v) for k, v in attributes.items()}


@functions_framework.cloud_event
def relay(cloud_event: CloudEvent) -> None:
    started = time.perf_counter()
    event_id = cloud_event.get("id")
    try:
        message_id, job, attributes = parse_pubsub_event(cloud_event.get_data(), event_id)
    except MalformedMessage as exc:
        # Acknowledged: redelivering a message that can never parse would retry for 24 h.
        _log("ERROR", f"dropped malformed message: {exc}", event_id=event_id, reason=str(exc), acked=True)
        return

    client = _get_client()
    import requests

    try:
        token = client.token()
    except Exception as exc:
        _log("ERROR", "could not mint an ID token; will retry", message_id=message_id, error=repr(exc))
        raise RetryableError(f"ID token unavailable: {type(exc).__name__}") from exc

    headers = {
        # Cloud Run checks X-Serverless-Authorization and passes Authorization through intact, so
        # the worker can verify the full signed token itself.
        "X-Serverless-Authorization": f"Bearer {token}",
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
    }
    body = {"id": message_id, "job": job, "attributes": attributes}
    try:
        # Never follow a redirect: requests would drop Authorization on a cross-host hop but
        # forward X-Serverless-Authorization, handing the token to whoever the Location names.
        response = client.session.post(
            client.jobs_url, data=json.dumps(body), headers=headers, timeout=client.timeout, allow_redirects=False
        )
    except (requests.Timeout, requests.ConnectionError) as exc:
        _log(
            "WARNING",
            "worker unreachable; will retry",
            message_id=message_id,
            error=type(exc).__name__,
        )
        raise RetryableError(f"worker unreachable: {type(exc).__name__}") from exc

    status = response.status_code
    elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
    if status >= 500 or status in (408, 429):
        _log("WARNING", "worker failed transiently; will retry", message_id=message_id, worker_status=status)
        raise RetryableError(f"worker returned {status}")
    if status in (401, 403) and not _is_worker_error(response):
        # Cloud Run's front end refused the call before it reached the worker (its body is HTML or
        # text): right after a deploy the invoker grant may still be propagating, so retry.
        _log(
            "WARNING",
            f"Cloud Run front end refused the call with {status} (invoker IAM not yet effective?); will retry",
            message_id=message_id,
            worker_status=status,
            rejected_by="front end",
            reason=response.text[:300],
        )
        raise RetryableError(f"Cloud Run front end returned {status}")
    if 400 <= status < 500:
        rejected_by = "worker" if _is_worker_error(response) else "front end"
        _log(
            "ERROR",
            f"{rejected_by} rejected the job with {status}; acknowledged",
            message_id=message_id,
            worker_status=status,
            rejected_by=rejected_by,
            reason=response.text[:300],
            acked=True,
        )
        return
    if not 200 <= status < 300:
        _log(
            "WARNING",
            f"unexpected worker status {status} (redirects are not followed); will retry",
            message_id=message_id,
            worker_status=status,
            location=response.headers.get("Location"),
        )
        raise RetryableError(f"worker returned {status}")
    try:
        reply = response.json()
    except ValueError:
        reply = None
    reply = reply if isinstance(reply, dict) else {}
    _log(
        "INFO",
        "job delivered",
        message_id=message_id,
        worker_status=status,
        elapsed_ms=elapsed_ms,
        duplicate=bool(reply.get("duplicate")),
        verified_caller=reply.get("caller"),
        result=reply.get("result"),
    )
