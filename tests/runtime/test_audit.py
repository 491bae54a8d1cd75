"""The worker's audit trail, on a real worker process: one request of every status, each leaving
exactly one JSON line with who called (verified), the decision, the reason, latency and the trace,
and no part of any token anywhere in the log."""

from __future__ import annotations

import contextlib
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from local.processes import LOCAL_PROJECT, Proc
from tests.runtime.helpers import AUDIENCE, OTHER_EMAIL, RELAY_EMAIL, Launcher, TokenForge, new_id, records

REQUIRED = (
    "severity",
    "message",
    "component",
    "status",
    "decision",
    "reason",
    "caller",
    "caller_kind",
    "sub",
    "aud",
    "message_id",
    "method",
    "path",
    "latency_ms",
    "httpRequest",
    "logging.googleapis.com/trace",
    "logging.googleapis.com/spanId",
)


@pytest.fixture(scope="module")
def audited(launcher: Launcher, identity: Proc) -> Proc:
    # A worker of its own, so that its log holds exactly the requests of this module.
    return launcher.worker(identity.url + "/oauth2/v1/certs", "worker-audit")


@dataclass
class Case:
    status: int
    method: str
    path: str
    token: str | None = None
    body: Any = None
    raw: bytes | None = None
    expect: dict[str, Any] = field(default_factory=dict)


def cases(forge: TokenForge) -> dict[str, Case]:
    valid = forge.sign()
    other = forge.sign(forge.claims(email=OTHER_EMAIL))
    reused = new_id()
    allowed = {
        "caller": RELAY_EMAIL,
        "caller_kind": "relay",
        "sub": "123456789012345678901",
        "aud": AUDIENCE,
        "verified_by": "signature",
    }
    refused = {"caller": None, "caller_kind": None, "verified_by": None, "decision": "not_checked", "path": "/jobs"}
    return {
        "200 processed": Case(200, "POST", "/jobs", valid, {"id": reused, "job": {"task": "primes", "limit": 10}},
                              expect={**allowed, "decision": "allow", "reason": "processed", "message_id": reused}),
        "409 id reused": Case(409, "POST", "/jobs", valid, {"id": reused, "job": {"task": "primes", "limit": 11}},
                              expect={**allowed, "reason": "id reused for a different job"}),
        "400 invalid job": Case(400, "POST", "/jobs", valid, {"id": new_id(), "job": {"task": "primes", "limit": -1}},
                                expect={**allowed, "decision": "allow"}),
        "400 invalid body": Case(400, "POST", "/jobs", valid, raw=b"[" * 5000, expect={"reason": "body is nested too deeply"}),
        "401 wrong audience": Case(401, "POST", "/jobs", forge.sign(forge.claims(aud="https://x.example")),
                                   {"id": new_id(), "job": {"task": "primes", "limit": 10}},
                                   expect={"caller": None, "sub": None, "decision": "deny",
                                           "reason": "invalid token: wrong audience"}),
        "401 token in the query string": Case(401, "POST", f"/jobs?access_token={valid}", None,
                                              {"id": new_id(), "job": {"task": "primes", "limit": 10}},
                                              expect={"path": "/jobs", "reason": "invalid token: no Authorization header"}),
        "403 not allowed": Case(403, "POST", "/jobs", other, {"id": new_id(), "job": {"task": "primes", "limit": 10}},
                                expect={"caller": OTHER_EMAIL, "caller_kind": None, "decision": "deny",
                                        "sub": "123456789012345678901", "reason": "caller not allowed"}),
        "404 no such path": Case(404, "GET", "/admin", valid, expect={"decision": "not_checked", "reason": "not found"}),
        "405 wrong method": Case(405, "GET", "/jobs", valid, expect={"decision": "not_checked", "reason": "method not allowed"}),
        # The server refuses a body over the limit before the app (and so before any token is looked at).
        "413 body too large": Case(413, "POST", "/jobs", valid, raw=b'{"id": "x", "pad": "' + b"a" * 70_000 + b'"}',
                                   expect={**refused, "reason": "refused by the server before the app (RequestEntityTooLarge)"}),
        "413 chunked body too large": Case(413, "POST", "/jobs", valid, raw=b"",
                                           expect={**refused, "reason": "refused by the server before the app (RequestEntityTooLarge)"}),
        "400 malformed chunked body": Case(400, "POST", "/jobs", valid, raw=b"",
                                           expect={**refused, "reason": "refused by the server before the app (BadRequest)"}),
        "405 OPTIONS": Case(405, "OPTIONS", "/jobs", valid, expect={"reason": "method not allowed"}),
        "503 unknown key id": Case(503, "POST", "/jobs", forge.sign(signer=forge.foreign_signer(kid="rotated-later")),
                                   {"id": new_id(), "job": {"task": "primes", "limit": 10}},
                                   expect={"decision": "unverifiable", "caller": None}),
    }  # fmt: skip


def test_every_status_leaves_exactly_one_json_audit_line_without_token_text(audited: Proc, forge: TokenForge) -> None:
    sent = cases(forge)
    traces: dict[str, str] = {}
    tokens: list[str] = []
    for name, case in sent.items():
        trace_id = uuid.uuid4().hex
        traces[name] = trace_id
        headers = {"X-Cloud-Trace-Context": f"{trace_id}/4242;o=1"}
        if case.token:
            headers["Authorization"] = f"Bearer {case.token}"
            tokens.append(case.token)
        if case.raw is not None:
            headers["Content-Type"] = "application/json"
        data: Any = case.raw
        if name == "413 chunked body too large":  # no Content-Length: the limit must hold on the stream
            data = (b'{"id": "chunked", "pad": "' + b"a" * 1024 for _ in range(80))
        if name == "400 malformed chunked body":  # a chunk size that is not hexadecimal
            assert case.token is not None
            response = _raw(
                audited,
                b"POST /jobs HTTP/1.1\r\nHost: worker\r\nAuthorization: Bearer "
                + case.token.encode()
                + b"\r\nX-Cloud-Trace-Context: "
                + headers["X-Cloud-Trace-Context"].encode()
                + b"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
            )
            assert response.split(b" ", 2)[1] == b"400", response[:200]
            assert b'{"error": "bad request"}' in response
            continue
        response = requests.request(
            case.method, audited.url + case.path, json=case.body, data=data, headers=headers, timeout=30
        )
        assert response.status_code == case.status, name
        if case.path.startswith("/jobs") or case.status in (404, 405):
            assert response.headers["Content-Type"] == "application/json", name
            assert isinstance(response.json()["error" if case.status != 200 else "result"], str | dict), name

    lines = records(audited, message="request")
    for name, case in sent.items():
        trace = f"projects/{LOCAL_PROJECT}/traces/{traces[name]}"  # Cloud Logging's form
        mine = [line for line in lines if line.get("logging.googleapis.com/trace") == trace]
        assert len(mine) == 1, f"{name}: {len(mine)} audit lines"
        [line] = mine
        assert all(key in line for key in REQUIRED), f"{name}: missing {[k for k in REQUIRED if k not in line]}"
        assert line["status"] == line["httpRequest"]["status"] == case.status
        assert line["logging.googleapis.com/spanId"] == format(4242, "016x")
        assert line["logging.googleapis.com/trace_sampled"] is True
        assert line["severity"] == ("INFO" if case.status < 400 else "WARNING" if case.status < 500 else "ERROR")
        assert line["latency_ms"] >= 0 and line["httpRequest"]["latency"].endswith("s")
        for key, value in case.expect.items():
            if key == "reason" and case.status == 503:
                continue
            assert line[key] == value, f"{name}: {key}={line[key]!r}"
    assert sent["503 unknown key id"].status == 503
    [unverifiable] = [line for line in lines if line["status"] == 503]
    assert unverifiable["reason"].startswith("cannot verify now: token key id is not in")

    # No part of any token: neither whole, nor a segment, nor the claims' encoded text.
    text = audited.log_text()
    for token in tokens:
        for part in (token, *token.split(".")):
            assert part not in text
    # And nothing else: after start-up every line is one JSON object (no traceback, no stray text).
    body = text.split('"message": "worker configured"', 1)[1].splitlines()[1:]
    assert body and all(line.startswith("{") for line in body if line.strip())


def _raw(worker: Proc, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", int(worker.url.rsplit(":", 1)[1])), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        with contextlib.suppress(ConnectionResetError):  # the server closes with the request unread
            while chunk := conn.recv(4096):
                answer += chunk
    return answer


def test_a_request_the_server_refuses_itself_still_leaves_one_line(audited: Proc, forge: TokenForge) -> None:
    # Headers over the server's 20 KiB limit never reach the app: the server answers 431, in JSON.
    token = forge.sign(forge.claims(pad="p" * 24_000))
    answer = _raw(
        audited,
        b"POST /jobs HTTP/1.1\r\nHost: worker\r\nAuthorization: Bearer " + token.encode() + b"\r\n"
        b"Content-Length: 2\r\n\r\n{}",
    )
    assert answer.split(b" ", 2)[1] == b"431"
    assert answer.endswith(b'{"error": "request header fields too large"}')
    refused = [line for line in records(audited, message="request") if line["status"] == 431]
    assert len(refused) == 1
    assert refused[0]["reason"] == "refused by the server before the app (RequestHeaderFieldsTooLarge)"
    assert refused[0]["decision"] == "not_checked" and refused[0]["caller"] is None
    assert token not in audited.log_text() and token.split(".")[2] not in audited.log_text()


def test_no_caller_can_blank_a_field_of_its_own_audit_line(audited: Proc, forge: TokenForge) -> None:
    # The scrubber used to remove from every field any 8+ character text equal to the Authorization value or
    # one of its segments: the caller chose what vanished (issue 24, finding 4). Each request below picks
    # its Authorization value to erase a field of its own line; every field must still read as it should.
    valid = forge.sign()
    header_segment = valid.split(".")[0]
    reused_header_id = header_segment[:128]
    sent = [
        # (method, path, Authorization, body, expected fields)
        ("GET", "/nothing-here", "Bearer not_checked", None, {"decision": "not_checked", "reason": "not found"}),
        ("GET", "/admin/secret-panel", "Bearer /admin/secret-panel", None, {"path": "/admin/secret-panel"}),
        (
            "POST",
            "/jobs",
            "Bearer invalid token: malformed token",
            {"id": new_id(), "job": {"task": "primes", "limit": 10}},
            {"decision": "deny", "reason": "invalid token: Authorization header is not `Bearer <token>`"},
        ),
        (
            "POST",
            "/jobs",
            f"Bearer {valid}",
            {"id": reused_header_id, "job": {"task": "primes", "limit": 10}},
            {"message_id": reused_header_id, "decision": "allow", "reason": "processed", "caller": RELAY_EMAIL},
        ),
    ]
    for method, path, authorization, body, expected in sent:
        trace_id = uuid.uuid4().hex
        requests.request(
            method,
            audited.url + path,
            json=body,
            headers={"Authorization": authorization, "X-Cloud-Trace-Context": f"{trace_id}/1;o=1"},
            timeout=30,
        )
        trace = f"projects/{LOCAL_PROJECT}/traces/{trace_id}"
        [line] = [r for r in records(audited, message="request") if r.get("logging.googleapis.com/trace") == trace]
        assert not any("<redacted>" in str(value) for value in line.values()), f"{authorization}: {line}"
        for key, value in expected.items():
            assert line[key] == value, f"{authorization}: {key}={line[key]!r}"
    # Still: the credential itself (the token, its signature) is in no line.
    text = audited.log_text()
    assert valid not in text and valid.split(".")[2] not in text
