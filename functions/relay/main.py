"""Relay: a Pub/Sub-triggered gen2 Cloud Function that forwards each job to the private worker.

The worker is called with a Google-signed OIDC ID token minted from the metadata server for this
function's own service account (no key file). Every outcome is one of three (see README, "Failure
and retry policy"), which decides Eventarc's retries:

- delivered: the worker answered 2xx -> acknowledged.
- retryable: what a later attempt can fix (worker 5xx/408/429, timeouts, connection errors, a
  Cloud Run front-end 401/403 while an invoker grant propagates, 3xx, token minting, the relay's
  own misconfiguration) -> raise, and Eventarc redelivers. Not forever: a message whose publish
  time is older than Eventarc's 24-hour retry window minus a margin is dead-lettered instead.
- permanent: what no retry can fix (undecodable or invalid message, a job over the worker's
  limit, the worker's own 4xx verdict) -> published to the dead-letter topic with the original
  message and the reason, then acknowledged. If that publish fails, the relay raises: the
  message is only ever acknowledged once delivered or kept.

Heavy imports (google-auth, requests) happen on the first invocation, not at import: the instance
is ready to accept its first event sooner, and functions_framework is loaded by the host anyway.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import sys
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import functions_framework
import relay_dead_letter
import relay_envelope
import relay_trace

if TYPE_CHECKING:
    import requests
    from cloudevents.http.event import CloudEvent
    from google.auth.transport.requests import Request

DEFAULT_TIMEOUT_SECONDS = 30.0
# How long one ID-token mint may take, connect and headers included (the metadata server answers in
# milliseconds; google-auth's own retries take up to ~30 s against a hanging one).
DEFAULT_MINT_DEADLINE_SECONDS = 10.0
MINT_GRACE_SECONDS = 0.25
FUNCTION_TIMEOUT_CEILING = 540.0  # an event-driven function never runs longer
DEFAULT_PUBSUB_ENDPOINT = "https://pubsub.googleapis.com"
# Eventarc retries a failed delivery for 24 hours, waiting at most 600 s between attempts. A margin
# larger than that gap guarantees at least one attempt finds the message past this age and keeps
# it in the dead-letter topic before Eventarc drops it.
RETRY_WINDOW_SECONDS = 24 * 3600
DEAD_LETTER_MARGIN_SECONDS = 30 * 60
DEAD_LETTER_AFTER_SECONDS = RETRY_WINDOW_SECONDS - DEAD_LETTER_MARGIN_SECONDS
# A publish time this far ahead of the relay's clock is no usable age (a little ahead is clock skew: age 0).
FUTURE_PUBLISH_TOLERANCE_SECONDS = 300
# The worker's `code` for a genuine token outside its time window (services/worker/worker/app.py).
CLOCK_SKEW_CODE = "clock_skew"
TOPIC = re.compile(r"^projects/([a-z][-a-z0-9]{4,28}[a-z0-9])/topics/([A-Za-z][-A-Za-z0-9._~%+]{2,254})$")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class RetryableError(RuntimeError):
    """Raised so the platform redelivers the event (the function returns 500)."""


class RelayMisconfigured(RuntimeError):
    """A missing or invalid environment variable; its message names it."""


class _Retryable(Exception):
    def __init__(
        self, message: str, severity: str = "WARNING", keep_as: str = "retry_window_exhausted", **fields: Any
    ) -> None:
        super().__init__(message)
        self.message = message
        self.severity = severity
        self.keep_as = keep_as  # the dead-letter reason code if the retry window runs out
        self.fields = fields


class _Permanent(Exception):
    def __init__(self, code: str, reason: str, worker_status: int | None = None, **fields: Any) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.worker_status = worker_status
        self.fields = fields


class MintFailed(Exception):
    """No ID token within the deadline; the message says why in fixed words (never a library's message)."""


class _Mint:
    """One ID-token mint in flight, shared by every invocation that needs a token meanwhile."""

    __slots__ = ("deadline", "done", "error", "token")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.done = threading.Event()
        self.token: str | None = None
        self.error: str | None = None


class _WorkerClient:
    """Per-process HTTP session and ID-token credentials, created on first use and then reused."""

    def __init__(self, worker_url: str, audience: str, timeout: float, mint_deadline: float) -> None:
        import google.auth.transport.requests
        import relay_deadline
        import requests

        self.jobs_url = worker_url.rstrip("/") + "/jobs"
        self.audience = audience
        self.timeout = timeout
        self.mint_deadline = mint_deadline
        self.session: requests.Session = requests.Session()
        # google-auth's metadata calls go through their own session, so pooled keep-alive
        # connections to the worker are never shared with token traffic; its connections obey the
        # mint's deadline (relay_deadline.py), headers included.
        self.auth_request: Request = google.auth.transport.requests.Request(
            session=relay_deadline.bounded(requests.Session())
        )
        self._credentials: Any = None
        self._mint: _Mint | None = None
        self._lock = threading.Lock()

    def token(self) -> str:
        """The current ID token, minting one when google-auth no longer considers it fresh.

        Single flight: while a mint runs, every invocation that needs a token waits for that one (never
        queues up to redo it), and none waits past the mint's deadline. MintFailed otherwise."""
        from google.auth.credentials import TokenState

        creds = self._credentials
        if creds is not None and creds.token_state == TokenState.FRESH:
            return creds.token
        with self._lock:
            mint = self._mint
            now = time.monotonic()
            # A mint past its deadline is abandoned (its sockets are shut; google-auth may still be sleeping
            # between its retries, which fail at once): a new invocation starts a new one.
            if mint is None or now > mint.deadline + MINT_GRACE_SECONDS:
                mint = self._mint = _Mint(now + self.mint_deadline)
                threading.Thread(target=self._run_mint, args=(mint,), name="id-token-mint", daemon=True).start()
        if not mint.done.wait(max(mint.deadline - time.monotonic(), 0.0) + MINT_GRACE_SECONDS):
            raise MintFailed(f"the metadata server gave no ID token within {self.mint_deadline:g} s")
        if mint.token is None:
            raise MintFailed(mint.error or "no ID token")
        return mint.token

    def _run_mint(self, mint: _Mint) -> None:
        import relay_deadline
        from google.auth.credentials import TokenState

        try:
            with relay_deadline.deadline(mint.deadline):
                if self._credentials is None:
                    import google.oauth2.id_token

                    self._credentials = google.oauth2.id_token.fetch_id_token_credentials(
                        self.audience, request=self.auth_request
                    )
                creds = self._credentials
                if creds.token_state != TokenState.FRESH:
                    creds.refresh(self.auth_request)
                mint.token = creds.token
                _forbid(mint.token)
        except Exception as exc:
            # A library's message can quote the metadata server's answer, token included: never log it.
            mint.error = f"ID token mint failed ({_error_chain(exc)})"
        finally:
            with self._lock:
                if self._mint is mint:
                    self._mint = None
            mint.done.set()

    def forget_token(self) -> None:
        """The worker judged the token's time window off: mint a new one next time, rather than reuse it."""
        creds = self._credentials
        if creds is not None:
            creds.token = None
            creds.expiry = None


def _error_chain(exc: BaseException) -> str:
    """The exception's type and its causes' types, e.g. `RefreshError <- TransportError`; no messages."""
    names: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(names) < 4:
        names.append(type(seen).__name__)
        seen = seen.__cause__ or seen.__context__
    return " <- ".join(names)


# The relay's own ID token (its whole text and its signature), which no log line may carry; see _log.
_SECRETS: list[str] = []
_MIN_SECRET_CHARS = 32


def _forbid(token: str | None) -> None:
    if not token:
        return
    parts = [token, token.rsplit(".", 1)[-1]]
    with _client_lock:
        for part in parts:
            if len(part) >= _MIN_SECRET_CHARS and part not in _SECRETS:
                _SECRETS.append(part)
        del _SECRETS[:-8]  # the last few tokens are enough: older ones have expired


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        for secret in _SECRETS:
            if secret in value:
                value = value.replace(secret, "<redacted>")
        return value
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


_client: _WorkerClient | None = None
_publisher: relay_dead_letter.Publisher | None = None
_client_lock = threading.Lock()


def _config_error(message: str) -> RelayMisconfigured:
    _log("ERROR", f"relay misconfigured: {message}")
    return RelayMisconfigured(f"relay misconfigured: {message}")


def _get_client() -> _WorkerClient:
    global _client
    if _client is not None:
        return _client
    with _client_lock:
        if _client is None:
            worker_url = os.environ.get("WORKER_URL", "").strip()
            audience = os.environ.get("WORKER_AUDIENCE", "").strip()
            raw_timeout = os.environ.get("WORKER_TIMEOUT_SECONDS", "").strip()
            raw_deadline = os.environ.get("TOKEN_DEADLINE_SECONDS", "").strip()
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
            try:
                mint_deadline = float(raw_deadline) if raw_deadline else DEFAULT_MINT_DEADLINE_SECONDS
            except ValueError:
                mint_deadline = -1.0
            if not 1 <= mint_deadline <= 60:
                raise _config_error(
                    f"TOKEN_DEADLINE_SECONDS must be a number of seconds within 1..60: {raw_deadline!r}"
                )
            _client = _WorkerClient(worker_url, audience, timeout, mint_deadline)
        return _client


def _get_publisher() -> relay_dead_letter.Publisher:
    """The dead-letter publisher. Configured apart from the worker client, so that a broken worker
    setting never stops messages from being dead-lettered when they run out of retries."""
    global _publisher
    if _publisher is not None:
        return _publisher
    with _client_lock:
        if _publisher is None:
            topic = os.environ.get("DEAD_LETTER_TOPIC", "").strip()
            endpoint = os.environ.get("PUBSUB_ENDPOINT", "").strip() or DEFAULT_PUBSUB_ENDPOINT
            if not TOPIC.match(topic):
                raise _config_error("DEAD_LETTER_TOPIC must be projects/<project>/topics/<topic>")
            url = urlsplit(endpoint)
            # The access token travels with every publish: plain http only to this machine.
            if not (url.scheme == "https" or (url.scheme == "http" and url.hostname in LOOPBACK_HOSTS)) or (
                url.path not in ("", "/")
            ):
                raise _config_error("PUBSUB_ENDPOINT must be an https:// origin (http:// only on loopback)")
            _publisher = relay_dead_letter.Publisher(topic, endpoint)
        return _publisher


def _project_id() -> str | None:
    match = TOPIC.match(os.environ.get("DEAD_LETTER_TOPIC", "").strip())
    return match.group(1) if match else None


def _log(severity: str, message: str, **fields: Any) -> None:
    # One JSON object per line on stdout: Cloud Logging turns it into a structured entry and
    # reads `severity`, `message` and `logging.googleapis.com/trace` from it.
    entry = _scrub({"severity": severity, "message": message, "component": "relay", **fields})
    sys.stdout.write(json.dumps(entry, default=str) + "\n")
    sys.stdout.flush()


def _worker_error(response: requests.Response) -> tuple[str | None, str | None]:
    """The worker's own error text and code: its body is a JSON object with a string `error` (and maybe a
    string `code`); else (None, None)."""
    media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        return None, None
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return None, None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, str):
        return None, None
    code = body.get("code")
    return error[:300], code[:64] if isinstance(code, str) else None


def classify_failure(
    status: int, worker_error: str | None, text: str, location: str | None, worker_code: str | None = None
) -> _Retryable | _Permanent:
    """What a worker answer other than 2xx means for the message: retry it, or keep it as rejected.

    Pure: the status, the worker's own error (its JSON `error`, None when the body is not the worker's),
    the start of the body text, the Location header and the worker's `code` in; the verdict out.
    """
    if status == 503 and worker_error is not None and worker_code == CLOCK_SKEW_CODE:
        # The worker could not judge the token's time window: clocks disagree (or the token is old). Not
        # the job's fault: retry with a fresh token; if it lasts the whole retry window, keep it apart.
        return _Retryable(
            "the worker cannot judge the ID token's time now (clock skew?)",
            keep_as=CLOCK_SKEW_CODE,
            worker_status=status,
            reason=worker_error,
        )
    if status >= 500 or status in (408, 429):
        return _Retryable("worker failed transiently", worker_status=status, reason=worker_error)
    if status in (401, 403) and worker_error is None:
        # Cloud Run's front end refused the call before it reached the worker (its body is HTML or
        # text): right after a deploy the invoker grant may still be propagating, so retry.
        return _Retryable(
            f"Cloud Run front end refused the call with {status} (invoker IAM not yet effective?)",
            worker_status=status,
            rejected_by="front end",
            reason=text,
        )
    if 400 <= status < 500:
        rejected_by = "worker" if worker_error is not None else "front end"
        detail = worker_error if worker_error is not None else text
        return _Permanent(
            "rejected_by_worker" if worker_error is not None else "rejected_by_front_end",
            f"{rejected_by} answered {status}: {detail}",
            worker_status=status,
            rejected_by=rejected_by,
        )
    return _Retryable(
        f"unexpected worker status {status} (redirects are not followed)", worker_status=status, location=location
    )


def _deliver(delivery: relay_envelope.Delivery, trace: str | None) -> tuple[int, dict[str, Any]]:
    """POSTs the job; returns (status, reply) on 2xx, raises _Retryable or _Permanent otherwise."""
    try:
        client = _get_client()
    except RelayMisconfigured as exc:
        raise _Retryable(str(exc), "ERROR") from None
    import requests

    try:
        token = client.token()
    except MintFailed as exc:
        raise _Retryable("could not mint an ID token", "ERROR", error=str(exc)) from None

    headers = {
        # Cloud Run checks X-Serverless-Authorization and passes Authorization through intact, so
        # the worker can verify the full signed token itself.
        "X-Serverless-Authorization": f"Bearer {token}",
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
    }
    if trace:
        headers["X-Cloud-Trace-Context"] = trace
    try:
        # Never follow a redirect: requests would drop Authorization on a cross-host hop but
        # forward X-Serverless-Authorization, handing the token to whoever the Location names.
        response = client.session.post(
            client.jobs_url, data=delivery.body, headers=headers, timeout=client.timeout, allow_redirects=False
        )
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise _Retryable("worker unreachable", error=type(exc).__name__) from None
    except requests.RequestException as exc:
        raise _Retryable("request to the worker failed", error=type(exc).__name__) from None

    status = response.status_code
    if 200 <= status < 300:
        try:
            reply = response.json()
        except (ValueError, RecursionError):
            reply = None
        return status, reply if isinstance(reply, dict) else {}
    error, code = _worker_error(response)
    verdict = classify_failure(status, error, response.text[:300], response.headers.get("Location"), code)
    if isinstance(verdict, _Retryable) and verdict.keep_as == CLOCK_SKEW_CODE:
        client.forget_token()
    raise verdict


def _dead_letter(
    code: str,
    reason: str,
    context: dict[str, Any],
    data: Any,
    log_fields: dict[str, Any],
    worker_status: int | None = None,
    age: float | None = None,
) -> None:
    """Keeps the message in the dead-letter topic, or raises so that Eventarc redelivers it."""
    try:
        publisher = _get_publisher()
    except RelayMisconfigured as exc:
        raise RetryableError(str(exc)) from None
    record = relay_dead_letter.record(
        code=code, reason=reason, event=context, data=data, worker_status=worker_status, age_seconds=age
    )
    attributes = {"reason_code": code}
    if log_fields.get("message_id"):
        attributes["original_message_id"] = log_fields["message_id"]
    try:
        dead_letter_id = publisher.publish(record, attributes)
    except relay_dead_letter.PublishFailed as exc:
        _log("ERROR", f"could not dead-letter the message ({reason}); will retry", **{**log_fields, "error": str(exc)})
        raise RetryableError(str(exc)) from None
    outcome = {
        "reason_code": code,
        "reason": reason,
        "worker_status": worker_status,
        "dead_letter_topic": publisher.topic,
        "dead_letter_message_id": dead_letter_id,
        "acked": True,
    }
    _log("ERROR", f"dead-lettered: {reason}", **{**log_fields, **outcome})


def message_age(published: datetime.datetime | None, now: datetime.datetime) -> float | None:
    """Seconds since publication, or None when there is no usable time (none, or well in the future)."""
    if published is None:
        return None
    age = (now - published).total_seconds()
    if age < -FUTURE_PUBLISH_TOLERANCE_SECONDS:
        return None
    return max(age, 0.0)


def _message_id(data: Any) -> str | None:
    """The Pub/Sub message id for the log lines, if the envelope carries a valid one (before parsing it)."""
    message = relay_envelope.message_of(data) or {}
    message_id = message.get("messageId") or message.get("message_id")
    if not isinstance(message_id, str) or not relay_envelope.MESSAGE_ID.match(message_id):
        return None
    return message_id


def _attempt(delivery: relay_envelope.Delivery, trace: str | None) -> tuple[int, dict[str, Any]]:
    """`_deliver`, with an unforeseen error made retryable (and so kept once the retry window ends)."""
    try:
        return _deliver(delivery, trace)
    except (_Permanent, _Retryable):
        raise
    except Exception as exc:  # unforeseen: retry it, and let the retry window's end keep it
        raise _Retryable(f"relay error ({type(exc).__name__})", "ERROR") from None


def _retry_or_keep(
    exc: _Retryable, age: float | None, context: dict[str, Any], data: Any, fields: dict[str, Any]
) -> None:
    """Raises RetryableError so Eventarc redelivers; near the end of its retry window, dead-letters instead.

    Without a usable age (no publish time nor event time, or one in the future) the relay cannot know when
    Eventarc will give up and drop the message: it keeps it in the dead-letter topic now, rather than retry
    it towards a silent loss."""
    if age is None:
        reason = (
            f"{exc.message}; the message has no usable publish or event time, so the relay cannot tell when "
            "Eventarc stops retrying it: kept instead of retried"
        )
        _dead_letter("no_usable_age", reason, context, data, {**fields, **exc.fields}, exc.fields.get("worker_status"))
        return
    if age > DEAD_LETTER_AFTER_SECONDS:
        reason = (
            f"{exc.message}; the message is {age / 3600:.1f} h old and Eventarc stops retrying "
            f"at {RETRY_WINDOW_SECONDS // 3600} h"
        )
        _dead_letter(
            exc.keep_as,
            reason,
            context,
            data,
            {**fields, **exc.fields},
            exc.fields.get("worker_status"),
            age,
        )
        return
    _log(exc.severity, f"{exc.message}; will retry", **fields, **exc.fields)
    raise RetryableError(exc.message) from None


@functions_framework.cloud_event
def relay(cloud_event: CloudEvent) -> None:
    started = time.perf_counter()
    context = {key: cloud_event.get(key) for key in ("id", "source", "type", "time", "subject")}
    trace = relay_trace.incoming_header()
    data = cloud_event.get_data()
    fields: dict[str, Any] = {
        "event_id": context["id"],
        "message_id": _message_id(data),
        **relay_trace.log_fields(trace, _project_id()),
    }

    try:
        delivery = relay_envelope.parse(data, context["id"], relay_trace.sent_event_time())
    except relay_envelope.Poison as exc:
        _dead_letter(exc.code, exc.reason, context, data, fields)
        return
    except Exception as exc:  # a parser bug would fail this message on every attempt: keep it instead
        _dead_letter(
            "relay_error", f"the relay could not parse the message ({type(exc).__name__})", context, data, fields
        )
        return
    fields["message_id"] = delivery.message_id
    age = message_age(delivery.published, datetime.datetime.now(datetime.UTC))
    try:
        status, reply = _attempt(delivery, trace)
    except _Permanent as exc:
        _dead_letter(exc.code, exc.reason, context, data, {**fields, **exc.fields}, exc.worker_status, age)
        return
    except _Retryable as exc:
        _retry_or_keep(exc, age, context, data, fields)
        return

    _log(
        "INFO",
        "job delivered",
        **fields,
        worker_status=status,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        duplicate=bool(reply.get("duplicate")),
        verified_caller=reply.get("caller"),
        result=reply.get("result"),
    )
