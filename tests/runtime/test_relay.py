"""Relay: in-process through functions-framework's test client, and as a real process against a
stand-in for Cloud Run's front end (which can answer 429/5xx on its own) to pin the retry policy."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from google.auth import jwt

from local.processes import Proc, pubsub_event
from tests.runtime.helpers import AUDIENCE, RELAY_EMAIL, Launcher, publish, wait_for_records

RELAY_SOURCE = Path(__file__).resolve().parents[2] / "functions" / "relay" / "main.py"


@pytest.fixture(scope="module")
def relay_app() -> Any:
    return functions_framework.create_app("relay", str(RELAY_SOURCE), "cloudevent")


def _relay_module() -> Any:
    return sys.modules["main"]


# --- in process -----------------------------------------------------------------------------------


def test_parse_pubsub_event(relay_app: Any) -> None:
    parse = _relay_module().parse_pubsub_event
    data = {
        "message": {
            "data": base64.b64encode(b'{"task": "primes", "limit": 10}').decode(),
            "attributes": {"origin": "test", "n": 1},
            "messageId": "42",
        }
    }
    assert parse(data, "ce-1") == ("42", {"task": "primes", "limit": 10}, {"origin": "test", "n": "1"})
    # The snake_case id and the CloudEvent id are fallbacks for the message id.
    del data["message"]["messageId"]
    assert parse(data, "ce-1")[0] == "ce-1"
    data["message"]["message_id"] = "43"
    assert parse(json.dumps(data).encode(), None)[0] == "43"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, "no Pub/Sub `message` object"),
        ("not json", "event data is not JSON"),
        ({"message": "x"}, "no Pub/Sub `message` object"),
        ({"message": {"data": "e30="}}, "no message id"),
        ({"message": {"messageId": "1", "data": "e30=", "attributes": []}}, "attributes are not an object"),
        ({"message": {"messageId": "1", "data": "e30="}}, "job has no string `task`"),
    ],
)
def test_parse_pubsub_event_rejects(relay_app: Any, data: Any, reason: str) -> None:
    module = _relay_module()
    with pytest.raises(module.MalformedMessage) as caught:
        module.parse_pubsub_event(data, None)
    assert reason in str(caught.value)


def test_malformed_event_is_acknowledged_in_process(relay_app: Any, capsys: pytest.CaptureFixture[str]) -> None:
    headers, body = pubsub_event(None, message_id="bad-1", raw_data=b"[]")
    response = relay_app.test_client().post("/", data=body, headers=headers)
    assert response.status_code == 200
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert line["severity"] == "ERROR"
    assert line["event_id"] == "bad-1"
    assert line["acked"] is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WORKER_URL": "", "WORKER_AUDIENCE": AUDIENCE}, "WORKER_URL must be an http(s) base URL"),
        ({"WORKER_URL": "https://w.example", "WORKER_AUDIENCE": ""}, "WORKER_AUDIENCE is not set"),
        (
            {"WORKER_URL": "https://w.example", "WORKER_AUDIENCE": AUDIENCE, "WORKER_TIMEOUT_SECONDS": "soon"},
            "WORKER_TIMEOUT_SECONDS is not a number",
        ),
        (
            {"WORKER_URL": "https://w.example", "WORKER_AUDIENCE": AUDIENCE, "WORKER_TIMEOUT_SECONDS": "540"},
            "WORKER_TIMEOUT_SECONDS must be above 0 and below 540",
        ),
    ],
)
def test_misconfiguration_fails_the_invocation_with_one_clear_line(
    relay_app: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    message: str,
) -> None:
    module = _relay_module()
    monkeypatch.setattr(module, "_client", None)
    monkeypatch.delenv("WORKER_TIMEOUT_SECONDS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    headers, body = pubsub_event({"task": "primes", "limit": 10})
    response = relay_app.test_client().post("/", data=body, headers=headers)
    assert response.status_code == 500  # retried: the messages wait for a fixed deployment
    logged = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert any(line["severity"] == "ERROR" and message in line["message"] for line in logged)
    assert module._client is None


def test_relay_module_defers_heavy_imports() -> None:
    # What the host has already loaded (functions_framework) is free; anything else the module
    # imports would add to every cold start before the first event can be accepted.
    code = (
        "import sys, functions_framework; before = set(sys.modules); import main; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=RELAY_SOURCE.parent, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["main"]


# --- as a process, against a stand-in for Cloud Run's front end -----------------------------------


# What Cloud Run's Google front end sends when its own invoker check refuses a call (text/html).
GFE_FORBIDDEN = (
    b'<html><head>\n<meta http-equiv="content-type" content="text/html;charset=utf-8">\n'
    b"<title>403 Forbidden</title>\n</head>\n<body text=#000000 bgcolor=#ffffff>\n"
    b"<h1>Error: Forbidden</h1>\n<h2>Your client does not have permission to get URL "
    b"<code>/jobs</code> from this server.</h2>\n<h2></h2>\n</body></html>\n"
)


class Recorder:
    """An HTTP server on 127.0.0.1 that records every request it receives and answers as told."""

    def __init__(self) -> None:
        self.statuses: dict[str, int] = {}
        # Per message id: (status, headers, body) sent verbatim instead of the default reply.
        self.replies: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                front.received.append((dict(self.headers.items()), body))
                status, headers, payload = front.reply_for(body.get("id"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reply_for(self, message_id: Any) -> tuple[int, dict[str, str], bytes]:
        if message_id in self.replies:
            return self.replies[message_id]
        status = self.statuses.get(message_id, 200)
        # The worker's own shape: a result on success, {"error": ...} on a refusal, always JSON.
        body = {"id": message_id, "caller": "front-end", "result": {}} if status < 400 else {"error": "refused"}
        return status, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FrontEnd(Recorder):
    """Stand-in for Cloud Run's front end plus the worker behind it: answers POST /jobs with the
    status queued for the message id (or a verbatim reply); records what arrived."""


@pytest.fixture(scope="module")
def front_end() -> Iterator[FrontEnd]:
    front = FrontEnd()
    yield front
    front.close()


@pytest.fixture(scope="module")
def relay_to_front_end(launcher: Launcher, identity: Proc, front_end: FrontEnd) -> Proc:
    return launcher.relay(front_end.url, identity.url, "relay-frontend")


def test_relay_sends_one_google_token_in_both_headers(relay_to_front_end: Proc, front_end: FrontEnd) -> None:
    assert (
        publish(relay_to_front_end, {"task": "primes", "limit": 10}, "hdr-1", attributes={"k": "v"}).status_code == 200
    )
    headers, body = next((h, b) for h, b in front_end.received if b["id"] == "hdr-1")
    assert headers["Authorization"] == headers["X-Serverless-Authorization"]
    scheme, token = headers["Authorization"].split(" ")
    assert scheme == "Bearer"
    claims = jwt.decode(token, verify=False)
    assert claims["aud"] == AUDIENCE
    assert claims["email"] == RELAY_EMAIL
    assert headers["Content-Type"] == "application/json"
    assert body == {"id": "hdr-1", "job": {"task": "primes", "limit": 10}, "attributes": {"k": "v"}}


@pytest.mark.parametrize(
    ("status", "relay_status", "acked"),
    [
        (500, 500, False),
        (502, 500, False),
        (503, 500, False),
        (504, 500, False),
        (429, 500, False),
        (408, 500, False),
        (400, 200, True),
        (401, 200, True),
        (403, 200, True),
        (404, 200, True),
        (413, 200, True),
    ],
)
def test_retry_policy_by_worker_status(
    relay_to_front_end: Proc, front_end: FrontEnd, status: int, relay_status: int, acked: bool
) -> None:
    message_id = f"status-{status}"
    front_end.statuses[message_id] = status
    assert publish(relay_to_front_end, {"task": "primes", "limit": 10}, message_id).status_code == relay_status
    [line] = wait_for_records(relay_to_front_end, message_id=message_id, worker_status=status)
    assert line.get("acked", False) is acked
    assert line["severity"] == ("ERROR" if acked else "WARNING")


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (403, "text/html; charset=UTF-8", GFE_FORBIDDEN),
        (401, "text/html; charset=UTF-8", GFE_FORBIDDEN.replace(b"403 Forbidden", b"401 Unauthorized")),
        (403, "text/plain", b"Forbidden\n"),
        # JSON, but not the worker's format: still not the worker's verdict.
        (403, "application/json", b'{"code": 403}'),
    ],
)
def test_front_end_auth_refusal_is_retried(
    relay_to_front_end: Proc, front_end: FrontEnd, status: int, content_type: str, body: bytes
) -> None:
    # Right after a deploy Cloud Run's invoker check can refuse before the worker sees the call;
    # acknowledging that would silently drop the job, so the relay raises and Eventarc redelivers.
    message_id = f"gfe-{status}-{content_type.split(';')[0].replace('/', '-')}"
    front_end.replies[message_id] = (status, {"Content-Type": content_type}, body)
    assert publish(relay_to_front_end, {"task": "primes", "limit": 10}, message_id).status_code == 500
    [line] = wait_for_records(relay_to_front_end, message_id=message_id, worker_status=status)
    assert line["severity"] == "WARNING"
    assert line["rejected_by"] == "front end"
    assert "acked" not in line
    assert "will retry" in line["message"]


@pytest.mark.parametrize("status", [401, 403])
def test_worker_auth_verdict_is_acknowledged(relay_to_front_end: Proc, front_end: FrontEnd, status: int) -> None:
    message_id = f"verdict-{status}"
    front_end.replies[message_id] = (
        status,
        {"Content-Type": "application/json"},
        json.dumps({"error": "caller not allowed"}).encode(),
    )
    assert publish(relay_to_front_end, {"task": "primes", "limit": 10}, message_id).status_code == 200
    [line] = wait_for_records(relay_to_front_end, message_id=message_id, worker_status=status)
    assert line["acked"] is True
    assert line["rejected_by"] == "worker"
    assert "caller not allowed" in line["reason"]


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[Recorder]:
    other = Recorder()
    yield other
    other.close()


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_is_not_followed_and_is_retried(
    relay_to_front_end: Proc, front_end: FrontEnd, elsewhere: Recorder, status: int
) -> None:
    # `localhost` is another host name than the 127.0.0.1 the relay called, yet it reaches the
    # recorder: a followed redirect would land there with X-Serverless-Authorization still set.
    message_id = f"redirect-{status}"
    location = f"http://localhost:{elsewhere.port}/jobs"
    front_end.replies[message_id] = (status, {"Location": location, "Content-Type": "text/html"}, b"moved\n")
    assert publish(relay_to_front_end, {"task": "primes", "limit": 10}, message_id).status_code == 500
    [line] = wait_for_records(relay_to_front_end, message_id=message_id, worker_status=status)
    assert line["severity"] == "WARNING"
    assert str(status) in line["message"]
    assert line["location"] == location
    assert [b for _, b in front_end.received if b["id"] == message_id]
    assert [b for _, b in elsewhere.received if b.get("id") == message_id] == []
    assert not any("Bearer" in " ".join(h.values()) for h, _ in elsewhere.received)
