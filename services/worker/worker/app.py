"""HTTP surface of the worker: POST /jobs (authenticated), GET /healthz (not).

Every answer to /jobs is JSON: 200 with the result, `{"error": ...}` otherwise (400 for a client's
mistake, never 500). Every request, whatever its path and status, leaves exactly one audit line
(worker/audit.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import traceback
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

# The largest job request the relay sends (functions/relay/relay_envelope.py MAX_WORKER_BODY_BYTES
# checks the exact bytes against the same number; a test pins the two together).
MAX_BODY_BYTES = 64 * 1024
MAX_ID_CHARS = 128
MESSAGE_ID = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces: Pub/Sub ids are digits
# The `code` of a 503 for a token outside its time window: the relay keeps such messages apart.
CLOCK_SKEW_CODE = "clock_skew"
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
    app = Flask("worker")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["secure_invoke.certs"] = certs
    _log_configuration(config)

    # No automatic OPTIONS: nothing here serves browsers, and every other method gets a JSON 405.
    @app.get("/healthz", provide_automatic_options=False)
    def healthz() -> Response:
        _audit().reason = "health check"
        return Response("ok\n", status=200, mimetype="text/plain")

    @app.post("/jobs", provide_automatic_options=False)
    def submit_job() -> Response:
        return _submit_job(config, verifier, jobs_store)

    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _internal_error)
    app.wsgi_app = AuditMiddleware(app.wsgi_app, config.project, lambda _exc: b'{"error": "internal error"}')
    return app


def _log_configuration(config: WorkerConfig) -> None:
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
        upstream_api_key="configured" if config.upstream_api_key else "absent",
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


def _submit_job(config: WorkerConfig, verifier: TokenVerifier, store: IdempotencyStore) -> Response:
    """POST /jobs: the caller verified, the job validated, then run once per (caller, id)."""
    record = _audit()
    if config.verify_tokens:
        caller_key = _verified_caller(verifier, record)
        if isinstance(caller_key, Response):
            return caller_key
    else:
        record.decision, caller_key = "off", ""

    try:
        body = parse_body(read_body(request.environ, request.content_length))
    except BadBody as exc:
        return _refuse(400, str(exc), str(exc))
    message_id = body.get("id")
    if not isinstance(message_id, str) or not MESSAGE_ID.match(message_id):
        text = f"`id` must be a string of 1..{MAX_ID_CHARS} printable ASCII characters"
        return _refuse(400, text, "bad id")
    record.message_id = message_id
    try:
        job = jobs.validate(body.get("job"))
    except jobs.InvalidJob as exc:
        return _refuse(400, str(exc), f"invalid job: {exc}")
    record.extra["task"] = job["task"]

    try:
        result, duplicate = store.run_once((caller_key, message_id), lambda: _timed(job, record), job_digest(job))
    except Conflict:
        return _refuse(409, "this id was already used for a different job", "id reused for a different job")
    except StillProcessing:
        return _refuse(503, "the same message is still being processed", "in flight", {"Retry-After": "5"})
    record.reason = "duplicate" if duplicate else "processed"
    return _json(
        200,
        {"id": message_id, "task": job["task"], "result": result, "caller": record.caller, "duplicate": duplicate},
    )


def _verified_caller(verifier: TokenVerifier, record: Audit) -> str | Response:
    """The verified caller's key (its normalised email), or the refusal to answer with; recorded either way."""
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
    return normalise_email(caller.email) or ""


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


def _timed(job: dict[str, Any], record: Audit) -> dict[str, Any]:
    started = time.perf_counter()
    result = jobs.run(job)
    record.extra["compute_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result
