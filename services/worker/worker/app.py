"""HTTP surface of the worker: POST /jobs (authenticated), GET /healthz (not)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from flask import Flask, Response, g, request

from worker import jobs
from worker.auth import CallerNotAllowed, CertsUnavailable, InvalidToken, TokenVerifier
from worker.config import WorkerConfig, load_config
from worker.idempotency import IdempotencyStore, StillProcessing

MAX_BODY_BYTES = 64 * 1024
MAX_ID_CHARS = 128


def log(severity: str, message: str, **fields: Any) -> None:
    # One JSON object per line: Cloud Logging reads `severity` and `message`, keeps the rest.
    entry = {"severity": severity, "message": message, "component": "worker", **fields}
    sys.stdout.write(json.dumps(entry, default=str) + "\n")
    sys.stdout.flush()


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


def create_app(config: WorkerConfig | None = None, store: IdempotencyStore | None = None) -> Flask:
    config = config or load_config()
    verifier = TokenVerifier(config.audience, config.allowed_invokers, config.certs_url)
    store = store or IdempotencyStore()
    app = Flask("worker")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    log(
        "INFO" if config.verify_tokens else "WARNING",
        "worker configured",
        audience=config.audience,
        allowed_invokers=sorted(config.allowed_invokers),
        certs_url=config.certs_url,
        upstream_api_key="configured" if config.upstream_api_key else "absent",
        token_verification="on" if config.verify_tokens else "OFF (benchmark harness)",
    )

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", status=200, mimetype="text/plain")

    @app.post("/jobs")
    def submit_job() -> Response:
        g.started = time.perf_counter()
        g.caller = None
        g.message_id = None
        if config.verify_tokens:
            try:
                g.caller = verifier.verify(request.headers.get("Authorization")).email
            except InvalidToken as exc:
                return _reject(401, "invalid token", str(exc), {"WWW-Authenticate": 'Bearer error="invalid_token"'})
            except CallerNotAllowed as exc:
                return _reject(403, "caller not allowed", str(exc), caller=exc.email)
            except CertsUnavailable as exc:
                return _reject(503, "token verification unavailable", str(exc), {"Retry-After": "5"})

        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _reject(400, "body must be a JSON object", "body is not a JSON object")
        message_id = body.get("id")
        if not isinstance(message_id, str) or not 0 < len(message_id) <= MAX_ID_CHARS:
            return _reject(400, f"`id` must be a string of 1..{MAX_ID_CHARS} characters", "bad id")
        g.message_id = message_id
        try:
            job = jobs.validate(body.get("job"))
        except jobs.InvalidJob as exc:
            return _reject(400, str(exc), str(exc))

        def compute() -> dict[str, Any]:
            started = time.perf_counter()
            result = jobs.run(job)
            log(
                "INFO",
                "job processed",
                message_id=message_id,
                caller=g.caller,
                task=job["task"],
                compute_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            return result

        try:
            result, duplicate = store.run_once(message_id, compute)
        except StillProcessing:
            return _reject(503, "the same message is still being processed", "in flight", {"Retry-After": "5"})
        _audit(200, "duplicate" if duplicate else "processed")
        return _json(
            200,
            {"id": message_id, "task": job["task"], "result": result, "caller": g.caller, "duplicate": duplicate},
        )

    @app.errorhandler(413)
    def too_large(_exc: Exception) -> Response:
        return _reject(413, f"body larger than {MAX_BODY_BYTES} bytes", "body too large")

    def _reject(
        status: int, public: str, reason: str, headers: dict[str, str] | None = None, caller: str | None = None
    ) -> Response:
        if caller:
            g.caller = caller
        _audit(status, reason)
        return _json(status, {"error": public}, headers)

    def _audit(status: int, outcome: str) -> None:
        # The audit trail: who called (as verified, never as claimed by the body), and what happened.
        started = g.get("started", time.perf_counter())
        log(
            "INFO" if status < 400 else "WARNING",
            "request",
            path=request.path,
            status=status,
            caller=g.get("caller"),
            verified=config.verify_tokens and g.get("caller") is not None,
            message_id=g.get("message_id"),
            outcome=outcome,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
        )

    return app
