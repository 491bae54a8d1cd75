"""Relay: in-process through functions-framework's test client, and as a real process against a
stand-in for Cloud Run's front end (which can answer 429/5xx on its own) to pin the retry policy;
permanent failures end in the dead-letter stand-in (local.pubsub)."""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import functions_framework
import pytest
import requests
from google.auth import jwt

from local.processes import Proc, pubsub_event
from local.serving import QuietHandler
from tests.runtime.helpers import AUDIENCE, RELAY_EMAIL, Launcher, dead_letters_for, publish, wait_for_records

RELAY_SOURCE = Path(__file__).resolve().parents[2] / "functions" / "relay" / "main.py"
sys.path.insert(0, str(RELAY_SOURCE.parent))

import relay_envelope  # noqa: E402 -- importable from functions/relay only, as on Cloud Functions


@pytest.fixture(scope="module")
def relay_app() -> Any:
    return functions_framework.create_app("relay", str(RELAY_SOURCE), "cloudevent")


def _relay_module() -> Any:
    return sys.modules["main"]


# --- in process -----------------------------------------------------------------------------------


def test_parse_builds_the_worker_request_from_id_and_job_only() -> None:
    data = {
        "message": {
            "data": base64.b64encode(b'{"task": "primes", "limit": 10}').decode(),
            "attributes": {"origin": "test"},
            "messageId": "42",
            "publishTime": "2026-03-01T12:00:00.123456789Z",
        }
    }
    delivery = relay_envelope.parse(data, "ce-1")
    assert delivery.message_id == "42"
    assert json.loads(delivery.body) == {"id": "42", "job": {"task": "primes", "limit": 10}}
    assert delivery.published == datetime.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=datetime.UTC)
    # The snake_case id and the CloudEvent id are fallbacks for the message id; the CloudEvent
    # time is the fallback for the publish time.
    del data["message"]["messageId"], data["message"]["publishTime"]
    assert relay_envelope.parse(data, "ce-1").message_id == "ce-1"
    data["message"]["message_id"] = "43"
    delivery = relay_envelope.parse(json.dumps(data).encode(), None, "2026-03-01T12:00:00Z")
    assert delivery.message_id == "43"
    assert delivery.published == datetime.datetime(2026, 3, 1, 12, tzinfo=datetime.UTC)


def _data(job: bytes, **message: Any) -> dict[str, Any]:
    return {"message": {"messageId": "1", "data": base64.b64encode(job).decode(), **message}}


@pytest.mark.parametrize(
    ("data", "code", "reason"),
    [
        (None, "malformed_event", "no Pub/Sub `message` object"),
        ("not json", "malformed_event", "event data is not JSON"),
        ({"message": "x"}, "malformed_event", "no Pub/Sub `message` object"),
        ({"message": {"data": "e30="}}, "malformed_event", "no usable message id"),
        ({"message": {"messageId": "with space", "data": "e30="}}, "malformed_event", "no usable message id"),
        ({"message": {"messageId": "1", "data": "e30=", "attributes": []}}, "malformed_event", "not an object"),
        (_data(b"{}", attributes={"n": 1}), "malformed_event", "not a string"),
        (_data(b"{}", attributes={f"k{i}": "v" for i in range(101)}), "malformed_event", "101 attributes"),
        (_data(b"{}", attributes={"k": "v" * 1025}), "malformed_event", "exceeds Pub/Sub's limits"),
        (_data(b"{}", attributes={"k": "\ud800"}), "malformed_event", "lone surrogate"),
        ({"message": {"messageId": "1"}}, "malformed_job", "has no data"),
        ({"message": {"messageId": "1", "data": "%%%"}}, "malformed_job", "not base64"),
        (_data(b"\xff\xfe"), "malformed_job", "not UTF-8"),
        (_data(b"{not json"), "malformed_job", "not JSON"),
        (_data(b'{"task": "primes", "limit": NaN}'), "malformed_job", "not JSON"),
        (_data(b"[" * 100_000 + b"]" * 100_000), "job_too_large", "far above the job limit"),
        (_data(b"[" * 5_000 + b"]" * 5_000), "malformed_job", "nested deeper than 32"),
        (_data(b'{"task": "x", "a": ' + b"[" * 40 + b"]" * 40 + b"}"), "malformed_job", "nested deeper than 32"),
        (_data(b'{"task": "hash", "input": "\\ud800"}'), "malformed_job", "lone surrogate"),
        (_data(b'{"\\udfff": 1, "task": "x"}'), "malformed_job", "lone surrogate"),
        (_data(b"[1, 2]"), "malformed_job", "not a JSON object"),
        (_data(b'{"limit": 5}'), "malformed_job", "no string `task`"),
        (_data(b'{"task": 7}'), "malformed_job", "no string `task`"),
        (_data(json.dumps({"task": "x", "pad": "a" * 66_000}).encode()), "job_too_large", "the worker accepts 65536"),
    ],
)
def test_parse_names_every_poison(data: Any, code: str, reason: str) -> None:
    with pytest.raises(relay_envelope.Poison) as caught:
        relay_envelope.parse(data, None)
    assert caught.value.code == code
    assert reason in caught.value.reason


def test_poison_is_never_acknowledged_without_a_dead_letter_topic(
    relay_app: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = _relay_module()
    monkeypatch.setattr(module, "_publisher", None)
    monkeypatch.delenv("DEAD_LETTER_TOPIC", raising=False)
    headers, body = pubsub_event(None, message_id="bad-1", raw_data=b"[]")
    response = relay_app.test_client().post("/", data=body, headers=headers)
    assert response.status_code == 500  # retried until the deployment can keep it
    logged = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert [line["message"] for line in logged] == [
        "relay misconfigured: DEAD_LETTER_TOPIC must be projects/<project>/topics/<topic>"
    ]
    assert module._publisher is None


def test_an_unforeseen_parse_error_keeps_the_message_instead_of_failing_forever(
    relay_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _relay_module()
    kept: list[tuple[str, str]] = []
    monkeypatch.setattr(module, "_dead_letter", lambda code, reason, *args, **kwargs: kept.append((code, reason)))

    def broken(*args: Any) -> Any:
        raise KeyError("bug")

    monkeypatch.setattr(module.relay_envelope, "parse", broken)
    headers, body = pubsub_event({"task": "primes", "limit": 10})
    assert relay_app.test_client().post("/", data=body, headers=headers).status_code == 200
    assert kept == [("relay_error", "the relay could not parse the message (KeyError)")]


@pytest.mark.parametrize(("hours", "status", "kept"), [(1, 500, []), (25, 200, ["retry_window_exhausted"])])
def test_an_unforeseen_delivery_error_is_retried_then_kept_at_the_end_of_the_window(
    relay_app: Any, monkeypatch: pytest.MonkeyPatch, hours: int, status: int, kept: list[str]
) -> None:
    module = _relay_module()
    codes: list[str] = []
    reasons: list[str] = []

    def record(code: str, reason: str, *args: Any, **kwargs: Any) -> None:
        codes.append(code)
        reasons.append(reason)

    def broken(*args: Any) -> Any:
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(module, "_dead_letter", record)
    monkeypatch.setattr(module, "_deliver", broken)
    published = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=hours)
    headers, body = pubsub_event({"task": "primes", "limit": 10}, published=published)
    assert relay_app.test_client().post("/", data=body, headers=headers).status_code == status
    assert codes == kept
    assert all(r.startswith("relay error (ZeroDivisionError); the message is 25.0 h old") for r in reasons)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEAD_LETTER_TOPIC": "jobs-dev-dead"}, "DEAD_LETTER_TOPIC must be projects/<project>/topics/<topic>"),
        (
            {"DEAD_LETTER_TOPIC": "projects/acme-dev/topics/jobs-dev-dead", "PUBSUB_ENDPOINT": "http://pubsub.example"},
            "PUBSUB_ENDPOINT must be an https:// origin (http:// only on loopback)",
        ),
        (
            {"DEAD_LETTER_TOPIC": "projects/acme-dev/topics/jobs-dev-dead", "PUBSUB_ENDPOINT": "https://x/v1"},
            "PUBSUB_ENDPOINT must be an https:// origin",
        ),
    ],
)
def test_dead_letter_misconfiguration_is_named(
    relay_app: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    message: str,
) -> None:
    module = _relay_module()
    monkeypatch.setattr(module, "_publisher", None)
    monkeypatch.delenv("PUBSUB_ENDPOINT", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    headers, body = pubsub_event(None, raw_data=b"not json")
    assert relay_app.test_client().post("/", data=body, headers=headers).status_code == 500
    logged = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert any(line["severity"] == "ERROR" and message in line["message"] for line in logged)


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
    # imports would add to every cold start before the first event can be accepted: only the
    # relay's own modules and the standard library may load with it.
    code = (
        "import sys, functions_framework; before = set(sys.modules); import main; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=RELAY_SOURCE.parent, capture_output=True, text=True, check=True
    )
    loaded = done.stdout.split()
    own = {"main", "relay_envelope", "relay_dead_letter", "relay_trace"}
    assert own <= set(loaded)
    assert [m for m in loaded if m not in own and m.split(".")[0] not in sys.stdlib_module_names] == []


@pytest.mark.parametrize(
    ("status", "worker_error", "kept_as", "message"),
    [
        (500, None, None, "worker failed transiently"),
        (503, "overloaded", None, "worker failed transiently"),
        (408, None, None, "worker failed transiently"),
        (429, None, None, "worker failed transiently"),
        (401, None, None, "Cloud Run front end refused the call with 401 (invoker IAM not yet effective?)"),
        (403, None, None, "Cloud Run front end refused the call with 403 (invoker IAM not yet effective?)"),
        (401, "invalid token", "rejected_by_worker", "worker answered 401: invalid token"),
        (403, "caller not allowed", "rejected_by_worker", "worker answered 403: caller not allowed"),
        (400, "`id` must be a string", "rejected_by_worker", "worker answered 400: `id` must be a string"),
        (404, None, "rejected_by_front_end", "front end answered 404: <html>not found</html>"),
        (302, None, None, "unexpected worker status 302 (redirects are not followed)"),
    ],
)
def test_classify_failure_decides_from_the_answer_alone(
    relay_app: Any, status: int, worker_error: str | None, kept_as: str | None, message: str
) -> None:
    module = _relay_module()
    verdict = module.classify_failure(status, worker_error, "<html>not found</html>", "https://elsewhere.example/")
    if kept_as is None:
        assert isinstance(verdict, module._Retryable)
        assert (verdict.message, verdict.fields["worker_status"]) == (message, status)
    else:
        assert isinstance(verdict, module._Permanent)
        assert (verdict.code, verdict.reason, verdict.worker_status) == (kept_as, message, status)
    if status == 302:
        assert verdict.fields["location"] == "https://elsewhere.example/"


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

        class Handler(QuietHandler):
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
def relay_to_front_end(launcher: Launcher, identity: Proc, front_end: FrontEnd, pubsub: Proc) -> Proc:
    return launcher.relay(front_end.url, identity.url, "relay-frontend", pubsub)


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
    # Only what the worker reads: attributes stay with the relay (and its dead-letter records).
    assert body == {"id": "hdr-1", "job": {"task": "primes", "limit": 10}}


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
        (409, 200, True),
        (413, 200, True),
    ],
)
def test_retry_policy_by_worker_status(
    relay_to_front_end: Proc, front_end: FrontEnd, pubsub: Proc, status: int, relay_status: int, acked: bool
) -> None:
    message_id = f"status-{status}"
    front_end.statuses[message_id] = status
    assert publish(relay_to_front_end, {"task": "primes", "limit": 10}, message_id).status_code == relay_status
    [line] = wait_for_records(relay_to_front_end, message_id=message_id, worker_status=status)
    assert line.get("acked", False) is acked
    assert line["severity"] == ("ERROR" if acked else "WARNING")
    # Acknowledged only once kept: the worker's verdict is in the dead-letter topic, with the reason.
    kept = dead_letters_for(pubsub, message_id, timeout=2 if acked else 0.2)
    if acked:
        [record] = kept
        assert record["reason_code"] == "rejected_by_worker"
        assert record["reason"] == f"worker answered {status}: refused"
        assert record["worker_status"] == status
        assert record["_attributes"] == {"reason_code": "rejected_by_worker", "original_message_id": message_id}
    else:
        assert kept == []


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
def test_worker_auth_verdict_is_dead_lettered(
    relay_to_front_end: Proc, front_end: FrontEnd, pubsub: Proc, status: int
) -> None:
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
    [record] = dead_letters_for(pubsub, message_id)
    assert record["reason"] == f"worker answered {status}: caller not allowed"


def test_front_end_4xx_other_than_auth_is_dead_lettered(
    relay_to_front_end: Proc, front_end: FrontEnd, pubsub: Proc
) -> None:
    # A 404 page from the front end (e.g. WORKER_URL names a deleted service): no retry fixes the
    # message, so it is kept with the reason, to replay once the deployment is fixed.
    message_id = "gfe-404"
    front_end.replies[message_id] = (404, {"Content-Type": "text/html"}, b"<html>404 Not Found</html>")
    assert publish(relay_to_front_end, {"task": "primes", "limit": 10}, message_id).status_code == 200
    [record] = dead_letters_for(pubsub, message_id)
    assert record["reason_code"] == "rejected_by_front_end"
    assert record["reason"] == "front end answered 404: <html>404 Not Found</html>"


@pytest.mark.parametrize(("hours", "relay_status"), [(23.0, 500), (23.6, 200), (30.0, 200)])
def test_retryable_failure_near_the_end_of_the_retry_window_is_dead_lettered(
    relay_to_front_end: Proc, front_end: FrontEnd, pubsub: Proc, hours: float, relay_status: int
) -> None:
    # Eventarc stops retrying 24 h after publication. A message still failing 23.5 h in is kept
    # in the dead-letter topic instead of being raised into a retry that may never come.
    message_id = f"old-{hours}"
    front_end.statuses[message_id] = 503
    published = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=hours)
    response = publish(relay_to_front_end, {"task": "primes", "limit": 10}, message_id, published=published)
    assert response.status_code == relay_status
    kept = dead_letters_for(pubsub, message_id, timeout=2 if relay_status == 200 else 0.2)
    if relay_status == 500:
        assert kept == []
        return
    [record] = kept
    assert record["reason_code"] == "retry_window_exhausted"
    assert record["reason"].startswith("worker failed transiently; the message is")
    assert record["worker_status"] == 503
    assert abs(record["age_seconds"] - hours * 3600) < 60


def test_dead_letter_publish_failure_is_retried_and_nothing_is_lost(
    relay_to_front_end: Proc, front_end: FrontEnd, pubsub: Proc
) -> None:
    message_id = "dl-outage"
    front_end.statuses[message_id] = 400
    requests.post(pubsub.url + "/_fail", json={"count": 1, "status": 503}, timeout=5)
    assert publish(relay_to_front_end, {"task": "primes", "limit": 10}, message_id).status_code == 500
    [line] = wait_for_records(relay_to_front_end, message_id=message_id, acked=None)
    assert line["message"].startswith("could not dead-letter the message")
    assert "503" in line["error"] and "UNAVAILABLE" in line["error"]
    assert dead_letters_for(pubsub, message_id, timeout=0.2) == []
    # Eventarc's redelivery: the topic is back, the message is kept, then acknowledged.
    assert publish(relay_to_front_end, {"task": "primes", "limit": 10}, message_id).status_code == 200
    assert len(dead_letters_for(pubsub, message_id)) == 1


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
