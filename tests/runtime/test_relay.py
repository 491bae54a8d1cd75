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


class FrontEnd:
    """Answers POST /jobs with the status queued for the message id; records what arrived."""

    def __init__(self) -> None:
        self.statuses: dict[str, int] = {}
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                front.received.append((dict(self.headers.items()), body))
                status = front.statuses.get(body.get("id"), 200)
                payload = json.dumps({"id": body.get("id"), "caller": "front-end", "result": {}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def front_end() -> Iterator[FrontEnd]:
    front = FrontEnd()
    yield front
    front.server.shutdown()
    front.server.server_close()


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
