"""HTTP surface of the worker: POST /jobs and POST /pubsub (authenticated), GET /healthz (not).

What each caller kind sends, and so what each route accepts (docs/design.md §2, "Declared callers"):

- `/jobs`: `{"id": <job id>, "job": {...}}` from the relay, the operator, Cloud Tasks, Workflows and workloads
  elsewhere; a Cloud Scheduler job (`scheduler`) sends `{"job": {...}}` only, the same bytes every run, and each
  run is keyed by its `X-CloudScheduler-JobName` and `X-CloudScheduler-ScheduleTime` headers.
- `/pubsub`: Pub/Sub's push wrapper (`{"message": {"data": <base64 job>, "messageId", ...}, "subscription",
  "deliveryAttempt"}`), for `pubsub-push` callers only; a 2xx acknowledges, so only a processed (or duplicate)
  message gets one. Anything else is redelivered by Pub/Sub, and after the subscription's maximum delivery
  attempts its dead-letter policy keeps it: the audit line says which attempt this was and what comes next.

Every answer is JSON: 200 with the result, `{"error": ...}` otherwise (400 for a client's mistake, never 500;
503 when it cannot tell now). Every request, whatever its path and status, leaves exactly one audit line
(worker/audit.py).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import re
import time
import traceback
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from worker import jobs
from worker.audit import AUDIT_KEY, Audit, AuditMiddleware, log
from worker.auth import (
    Caller,
    CallerNotAllowed,
    CertsUnavailable,
    InvalidToken,
    NotValidNow,
    TokenVerifier,
    normalise_email,
)
from worker.certs import CertsCache, HttpCertsSource
from worker.environment import WorkerConfig, load_config
from worker.idempotency import Conflict, IdempotencyStore, StillProcessing
from worker.upstream import RETRY_AFTER_SECONDS, KeyUnavailable, UpstreamKey

# The largest job request the relay sends (functions/relay/relay_envelope.py MAX_WORKER_BODY_BYTES
# checks the exact bytes against the same number; a test pins the two together).
MAX_BODY_BYTES = 64 * 1024
MAX_ID_CHARS = 128
MESSAGE_ID = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces: Pub/Sub ids are digits
# The `code` of a 503 for a token outside its time window: the relay keeps such messages apart.
CLOCK_SKEW_CODE = "clock_skew"
# The `code` of a 503 for a job that needs the upstream key while it cannot be read: retried, never a verdict.
UPSTREAM_KEY_CODE = "upstream_key_unavailable"
# Caller kinds (CALLER_KINDS) whose requests have a shape of their own; every other kind sends {"id", "job"}.
PUSH_KIND = "pubsub-push"
SCHEDULER_KIND = "scheduler"
JOBS_PATH = "/jobs"
PUSH_PATH = "/pubsub"
SCHEDULER_JOB_HEADER = "X-CloudScheduler-JobName"
SCHEDULER_TIME_HEADER = "X-CloudScheduler-ScheduleTime"
_PRINTABLE = re.compile(r"^[\x21-\x7e]{1,500}$")
_PUBLIC_HTTP_ERRORS = {404: "not found", 405: "method not allowed", 413: f"body larger than {MAX_BODY_BYTES} bytes"}


class BadBody(ValueError):
    pass


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


def parse_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or BadBody naming what is wrong (never an exception from
    deep nesting, invalid UTF-8 or NaN)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("body is not UTF-8") from None
    try:
        body = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise BadBody("body is nested too deeply") from None
    except ValueError:
        raise BadBody("body is not JSON") from None
    if not isinstance(body, dict):
        raise BadBody("body must be a JSON object")
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_body(environ: dict[str, Any], content_length: int | None) -> bytes:
    """The request body, or RequestEntityTooLarge (413) if it exceeds MAX_BODY_BYTES.

    Read here with an exact limit rather than through Flask: for a chunked body werkzeug stops at
    the limit without complaint, and the truncated JSON would be answered as a 400."""
    if content_length is not None and content_length > MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
    if content_length is None and not environ.get("wsgi.input_terminated"):
        return b""  # neither a length nor a server that ends the stream: nothing safe to read
    # With a length, read exactly that much; without (chunked), until the server ends the stream.
    limit = content_length if content_length is not None else MAX_BODY_BYTES + 1
    stream = environ["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        try:
            chunk = stream.read(min(64 * 1024, limit - size))
        except Exception as exc:  # the server's parse error for a malformed (e.g. chunked) body, a cut connection
            raise BadBody(f"body could not be read ({type(exc).__name__})") from None
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
    return b"".join(chunks)


def job_digest(job: dict[str, Any]) -> str:
    """Identifies a validated job's content: the same id with another digest is a different job."""
    return hashlib.sha256(json.dumps(job, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def create_app(
    config: WorkerConfig | None = None, store: IdempotencyStore | None = None, certs: CertsCache | None = None
) -> Flask:
    config = config or load_config()
    certs = certs or CertsCache(
        HttpCertsSource(config.certs_url),
        deadline_seconds=config.certs_fetch_deadline_seconds,
        refresh_interval_seconds=config.certs_refresh_interval_seconds,
        max_stale_seconds=config.certs_max_stale_seconds,
    )
    # Each allowed invoker is a relay, or the operator account people borrow (OPERATOR_INVOKERS).
    verifier = TokenVerifier(
        config.audience, config.caller_kinds(), certs, trust_cloud_run=config.behind_cloud_run_invoker_check
    )
    jobs_store = store or IdempotencyStore()
    upstream = UpstreamKey(config.upstream_api_key_file)
    app = Flask("worker")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["secure_invoke.certs"] = certs
    _log_configuration(config, upstream)

    # No automatic OPTIONS: nothing here serves browsers, and every other method gets a JSON 405.
    @app.get("/healthz", provide_automatic_options=False)
    def healthz() -> Response:
        _audit().reason = "health check"
        return Response("ok\n", status=200, mimetype="text/plain")

    @app.post(JOBS_PATH, provide_automatic_options=False)
    def submit_job() -> Response:
        return _submit(config, verifier, jobs_store, upstream, JOBS_PATH)

    @app.post(PUSH_PATH, provide_automatic_options=False)
    def push() -> Response:
        response = _submit(config, verifier, jobs_store, upstream, PUSH_PATH)
        if _audit().caller_kind in (None, PUSH_KIND):  # Pub/Sub's delivery, or one refused before we knew whose
            _note_push_outcome(_audit(), response.status_code)
        return response

    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _internal_error)
    app.wsgi_app = AuditMiddleware(app.wsgi_app, config.project, lambda _exc: b'{"error": "internal error"}')
    return app


def _log_configuration(config: WorkerConfig, upstream: UpstreamKey) -> None:
    log(
        "INFO" if config.verify_tokens else "WARNING",
        "worker configured",
        audience=config.audience,
        allowed_invokers=sorted(config.allowed_invokers),
        operator_invokers=sorted(config.operator_invokers),
        certs_url=config.certs_url,
        certs_policy={
            "fetch_deadline_s": config.certs_fetch_deadline_seconds,
            "refresh_interval_s": config.certs_refresh_interval_seconds,
            "max_stale_s": config.certs_max_stale_seconds,
        },
        upstream_api_key_file=(
            ("present" if upstream.present() else "absent now: jobs that need the key answer 503 until it is there")
            if config.upstream_api_key_file
            else "not set: jobs that need the upstream key answer 503"
        ),
        caller_kinds=dict(sorted(config.caller_kinds().items())),
        token_verification="on" if config.verify_tokens else "OFF (benchmark harness)",
        signature_removed_tokens=(
            "accepted: behind Cloud Run's IAM invoker check" if config.behind_cloud_run_invoker_check else "refused"
        ),
    )


def _audit() -> Audit:
    """This request's audit record (worker/audit.py writes it as one line when the response is done)."""
    record = request.environ.get(AUDIT_KEY)
    if not isinstance(record, Audit):  # only without the middleware, e.g. app.wsgi_app replaced
        record = request.environ[AUDIT_KEY] = Audit()
    return record


def _refuse(status: int, public: str, reason: str, headers: dict[str, str] | None = None) -> Response:
    _audit().reason = reason
    return _json(status, {"error": public}, headers)


def _submit(
    config: WorkerConfig, verifier: TokenVerifier, store: IdempotencyStore, upstream: UpstreamKey, path: str
) -> Response:
    """POST /jobs or /pubsub: the caller verified, the request read as its kind sends it, then run once per
    (caller, id)."""
    record = _audit()
    kind: str | None = None
    if config.verify_tokens:
        verified = _verified_caller(verifier, record)
        if isinstance(verified, Response):
            return verified
        caller_key, kind = verified
    else:
        record.decision, caller_key = "off", ""
    if kind is not None and (kind == PUSH_KIND) != (path == PUSH_PATH):
        # Each kind has its one route (docs/design.md §2): a push subscription aimed at /jobs, or another caller
        # posting Pub/Sub wrappers, is a misconfiguration to see in the denials, not a request to guess at.
        record.decision = "deny"
        served = PUSH_PATH if kind == PUSH_KIND else JOBS_PATH
        return _refuse(403, f"a {kind} caller calls {served}", f"caller kind {kind} is served at {served} only")
    if path == PUSH_PATH:
        return _run_push(store, upstream, caller_key, record)
    try:
        body = parse_body(read_body(request.environ, request.content_length))
    except BadBody as exc:
        return _refuse(400, str(exc), str(exc))
    parsed = _scheduled_run(body) if kind == SCHEDULER_KIND else _plain_job(body)
    if isinstance(parsed, Response):
        return parsed
    return _run(store, upstream, caller_key, parsed[0], parsed[1], record)


def _plain_job(body: dict[str, Any]) -> tuple[str, Any] | Response:
    """(job id, job) of `{"id", "job"}`: what the relay, the operator, Cloud Tasks and Workflows send."""
    message_id = body.get("id")
    if not isinstance(message_id, str) or not MESSAGE_ID.match(message_id):
        text = f"`id` must be a string of 1..{MAX_ID_CHARS} printable ASCII characters"
        return _refuse(400, text, "bad id")
    return message_id, body.get("job")


def _scheduled_run(body: dict[str, Any]) -> tuple[str, Any] | Response:
    """(run id, job) of a Cloud Scheduler run: `{"job"}` in the body, the same every run; the run is the job's
    name and the time it was scheduled for, from the headers Cloud Scheduler sets (a retry of a run repeats both)."""
    if "id" in body:
        text = f"a scheduler run is keyed by {SCHEDULER_JOB_HEADER} and {SCHEDULER_TIME_HEADER}; the body has no `id`"
        return _refuse(400, text, "scheduler body with an id")
    name = request.headers.get(SCHEDULER_JOB_HEADER, "").strip()
    when = request.headers.get(SCHEDULER_TIME_HEADER, "").strip()
    if not _PRINTABLE.match(name):
        text = f"{SCHEDULER_JOB_HEADER} must be the job's name (1..500 printable ASCII characters)"
        return _refuse(400, text, f"bad {SCHEDULER_JOB_HEADER}")
    if _rfc3339(when) is None:
        text = f"{SCHEDULER_TIME_HEADER} must be an RFC 3339 time with its zone"
        return _refuse(400, text, f"bad {SCHEDULER_TIME_HEADER}")
    run_id = f"{name}@{when}"
    if not MESSAGE_ID.match(run_id):  # a job name near Cloud Scheduler's 500 characters: its digest keys the run
        run_id = "sha256:" + hashlib.sha256(run_id.encode()).hexdigest()
    return run_id, body.get("job")


def _rfc3339(text: str) -> datetime.datetime | None:
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None and "T" in text.upper() else None


def _run_push(store: IdempotencyStore, upstream: UpstreamKey, caller_key: str, record: Audit) -> Response:
    """A Pub/Sub push delivery: the wrapper decoded, its message's data the job, its message id the job id."""
    try:
        body = parse_body(read_body(request.environ, request.content_length))
    except BadBody as exc:
        return _refuse(400, str(exc), f"poison push message: {exc}")
    message = body.get("message")
    subscription = body.get("subscription")
    attempt = body.get("deliveryAttempt")
    record.extra["pubsub"] = {
        "subscription": subscription[:256] if isinstance(subscription, str) else None,
        # Only set when the subscription has a dead-letter policy (Pub/Sub's push format).
        "delivery_attempt": attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else None,
    }
    if not isinstance(message, dict):
        return _refuse(400, "body has no Pub/Sub `message` object", "poison push message: no message object")
    message_id = message.get("messageId") or message.get("message_id")
    if not isinstance(message_id, str) or not MESSAGE_ID.match(message_id):
        return _refuse(400, "Pub/Sub message has no usable messageId", "poison push message: no usable messageId")
    record.message_id = message_id
    encoded = message.get("data")
    try:
        if not isinstance(encoded, str) or not encoded:
            raise BadBody("Pub/Sub message has no data")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise BadBody("message data is not base64") from None
        job = parse_body(raw)
    except BadBody as exc:
        text = str(exc).replace("body", "message data")
        return _refuse(400, text, f"poison push message: {text}")
    return _run(store, upstream, caller_key, message_id, job, record)


def _note_push_outcome(record: Audit, status: int) -> None:
    """What Pub/Sub does with the message after this answer, in the audit line."""
    push = record.extra.setdefault("pubsub", {"subscription": None, "delivery_attempt": None})
    if 200 <= status < 300:
        push["then"] = "acknowledged"
    elif push.get("delivery_attempt") is not None:
        push["then"] = (
            "not acknowledged: Pub/Sub redelivers it with backoff, and its dead-letter policy keeps it once the "
            "subscription's maximum delivery attempts are spent"
        )
    else:
        # Pub/Sub sets deliveryAttempt only for a subscription with a dead-letter policy.
        push["then"] = (
            "not acknowledged: Pub/Sub redelivers it; no deliveryAttempt, so the subscription has no dead-letter "
            "policy and the message is dropped when its retention ends"
        )


def _run(
    store: IdempotencyStore, upstream: UpstreamKey, caller_key: str, message_id: str, raw_job: Any, record: Audit
) -> Response:
    """Validates the job and runs it once per (caller, id); the answer every route gives."""
    record.message_id = message_id
    try:
        job = jobs.validate(raw_job)
    except jobs.InvalidJob as exc:
        return _refuse(400, str(exc), f"invalid job: {exc}")
    record.extra["task"] = job["task"]

    try:
        result, duplicate = store.run_once(
            (caller_key, message_id), lambda: _timed(job, record, upstream.get), job_digest(job)
        )
    except Conflict:
        return _refuse(409, "this id was already used for a different job", "id reused for a different job")
    except StillProcessing:
        return _refuse(503, "the same message is still being processed", "in flight", {"Retry-After": "5"})
    except KeyUnavailable as exc:
        # The job needs the upstream key and it cannot be read now: cannot tell now, never a verdict on the job.
        record.reason = f"cannot run now: {exc.reason}"
        return _json(
            503,
            {"error": "the upstream key is not available now", "code": UPSTREAM_KEY_CODE},
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    record.reason = "duplicate" if duplicate else "processed"
    return _json(
        200,
        {"id": message_id, "task": job["task"], "result": result, "caller": record.caller, "duplicate": duplicate},
    )


def _verified_caller(verifier: TokenVerifier, record: Audit) -> tuple[str, str | None] | Response:
    """The verified caller's key (its normalised email) and kind, or the refusal to answer with; recorded either
    way."""
    try:
        caller = verifier.verify(
            request.headers.get("Authorization"), request.headers.get("X-Serverless-Authorization")
        )
    except InvalidToken as exc:
        record.decision = "deny"
        return _refuse(
            401, "invalid token", f"invalid token: {exc}", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    except CallerNotAllowed as exc:
        record.decision = "deny"
        _record_caller(record, exc.caller)
        return _refuse(403, "caller not allowed", "caller not allowed")
    except CertsUnavailable as exc:
        record.decision = "unverifiable"
        return _refuse(
            503,
            "token verification unavailable",
            f"cannot verify now: {exc.reason}",
            {"Retry-After": str(exc.retry_after)},
        )
    except NotValidNow as exc:
        # A genuine token whose time window this worker's clock disagrees with: cannot tell now, not a
        # verdict on the job (the relay retries it, and keeps it as `clock_skew` if that never ends).
        record.decision = "unverifiable"
        _record_caller(record, exc.caller)
        record.reason = f"cannot verify now: {exc.reason} (clock skew?)"
        response = _json(
            503,
            {"error": "token not valid at this worker's time (clock skew?)", "code": CLOCK_SKEW_CODE},
            {"Retry-After": str(exc.retry_after)},
        )
        return response
    record.decision = "allow"
    _record_caller(record, caller)
    record.caller_kind = caller.kind
    return normalise_email(caller.email) or "", caller.kind


def _record_caller(record: Audit, caller: Caller) -> None:
    record.caller, record.sub, record.aud, record.verified_by = (
        caller.email,
        caller.subject,
        caller.audience,
        caller.verified_by,
    )


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    public = _PUBLIC_HTTP_ERRORS.get(status, (exc.name or "error").lower())
    response = _refuse(status, public, public)
    for name, value in exc.get_headers():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value  # e.g. Allow on a 405
    return response


def _internal_error(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    # The type and where it happened; never the message, which could quote the request.
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    _audit().extra["error_at"] = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else None
    return _refuse(500, "internal error", f"internal error ({type(exc).__name__})")


def _timed(job: dict[str, Any], record: Audit, upstream_key: Callable[[], str]) -> dict[str, Any]:
    started = time.perf_counter()
    result = jobs.run(job, upstream_key)
    record.extra["compute_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result
