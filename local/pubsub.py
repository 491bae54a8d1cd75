"""A local stand-in for the Pub/Sub REST publish API, for the relay's dead-letter topic.

It answers `POST /v1/projects/{project}/topics/{topic}:publish` the way pubsub.googleapis.com does:
request `{"messages": [{"data": <base64>, "attributes": {...}, "orderingKey": ...}]}`, response
`{"messageIds": [...]}`, errors as `{"error": {"code", "message", "status"}}`. The caller's bearer
access token is checked against the metadata stand-in's `/tokeninfo` (local.metadata_server), and only
`--publisher` may publish, to `--topic` only: what `roles/pubsub.publisher` on that one topic
allows. Pub/Sub's documented limits are enforced (10 MB request, 100 attributes, 256-byte keys,
1024-byte values), so a dead-letter record that would be refused in the cloud is refused here.

    python -m local.pubsub --port PORT --tokeninfo URL --topic projects/P/topics/T --publisher EMAIL

Control paths, not part of the Pub/Sub API: GET /_messages lists what was published (what an
operator would pull from the dead-letter subscription); POST /_fail with {"count": N, "status": S}
makes the next N publishes fail with HTTP S; GET /_stats counts requests. POST /_forward with
{"topic", "data", "attributes"} is Pub/Sub's own dead-letter forwarding from a push subscription, which
happens inside Google as the project's Pub/Sub service agent (local/google_callers.py checks that the plan
grants it what Pub/Sub requires before it forwards).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import requests

from local.serving import JsonHandler, loopback_server, port_number, serve_until_interrupted

MAX_REQUEST_BYTES = 10 * 1000 * 1000
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTE_KEY_BYTES = 256
MAX_ATTRIBUTE_VALUE_BYTES = 1024
_TOPIC = re.compile(r"^projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/topics/[A-Za-z][-A-Za-z0-9._~%+]{2,254}$")
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
_STATUS_NAMES |= {409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


class PubSubError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Topic:
    def __init__(self, name: str, publisher: str, tokeninfo_url: str) -> None:
        self.name = name
        self.publisher = publisher.lower()
        self.tokeninfo_url = tokeninfo_url
        self.messages: list[dict[str, Any]] = []
        self.counters = {"publish_requests": 0, "published": 0, "refused": 0, "injected_failures": 0, "forwarded": 0}
        self._fail: list[int] = []  # statuses of the next publishes to fail on purpose
        self._known_tokens: dict[str, tuple[str, float]] = {}  # access token -> (email, expiry)
        self._lock = threading.Lock()
        self._next_id = 1

    def holder_of(self, authorization: str | None) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise PubSubError(401, "Request is missing required authentication credential.")
        token = token.strip()
        with self._lock:
            known = self._known_tokens.get(token)
        if known and known[1] > time.time():
            return known[0]
        try:
            response = requests.get(self.tokeninfo_url, params={"access_token": token}, timeout=5)
        except requests.RequestException:
            raise PubSubError(503, "The service is currently unavailable (token check failed).") from None
        info = response.json() if response.status_code == 200 else {}
        email = info.get("email")
        scopes = str(info.get("scope", "")).split()
        if not isinstance(email, str) or not any(s.endswith(("/cloud-platform", "/pubsub")) for s in scopes):
            raise PubSubError(401, "Request had invalid authentication credentials.")
        with self._lock:
            self._known_tokens[token] = (email, time.time() + float(info.get("expires_in", 0)))
        return email

    def publish(self, topic: str, authorization: str | None, body: bytes) -> list[str]:
        with self._lock:
            self.counters["publish_requests"] += 1
        email = self.holder_of(authorization)
        if topic != self.name:
            raise PubSubError(404, f"Resource not found (resource={topic.rsplit('/', 1)[-1]}).")
        if email.lower() != self.publisher:
            raise PubSubError(403, "User not authorized to perform this action.")
        with self._lock:
            if self._fail:
                self.counters["injected_failures"] += 1
                raise PubSubError(self._fail.pop(0), "The service was unable to fulfill your request.")
        messages = parse_publish_request(body)
        ids: list[str] = []
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        with self._lock:
            for message in messages:
                message_id = str(self._next_id)
                self._next_id += 1
                self.messages.append({**message, "messageId": message_id, "publishTime": now})
                ids.append(message_id)
            self.counters["published"] += len(ids)
        return ids

    def forward(self, body: bytes) -> str:
        """A message Pub/Sub dead-letters from a subscription: kept on this topic as it arrived, with the
        attributes Pub/Sub adds."""
        request = json.loads(body)
        if request.get("topic") != self.name:
            raise PubSubError(404, f"Resource not found (resource={str(request.get('topic')).rsplit('/', 1)[-1]}).")
        (message,) = parse_publish_request(json.dumps({"messages": [request]}).encode())
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        with self._lock:
            message_id = str(self._next_id)
            self._next_id += 1
            self.messages.append({**message, "messageId": message_id, "publishTime": now})
            self.counters["forwarded"] += 1
        return message_id

    def fail_next(self, count: int, status: int) -> None:
        with self._lock:
            self._fail = [status] * count


def parse_publish_request(body: bytes) -> list[dict[str, Any]]:
    """The messages of a publish request, or PubSubError(400) naming the first problem."""
    if len(body) > MAX_REQUEST_BYTES:
        raise PubSubError(400, f"Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes.")
    try:
        request = json.loads(body)
    except ValueError:
        raise PubSubError(400, "Invalid JSON payload received.") from None
    messages = request.get("messages") if isinstance(request, dict) else None
    if not isinstance(messages, list) or not messages:
        raise PubSubError(400, "The value for message_count is too small. You passed 0 in the request.")
    parsed = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise PubSubError(400, f"Invalid value at 'messages[{index}]': not an object.")
        data = message.get("data", "")
        attributes = message.get("attributes", {})
        if not isinstance(data, str) or not isinstance(attributes, dict):
            raise PubSubError(400, f"Invalid value at 'messages[{index}]': wrong field types.")
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise PubSubError(400, f"Invalid value at 'messages[{index}].data' (TYPE_BYTES): not base64.") from None
        if not data and not attributes:
            raise PubSubError(400, "Some messages are empty: a message needs data or attributes.")
        if len(attributes) > MAX_ATTRIBUTES:
            raise PubSubError(400, f"Too many attributes: {len(attributes)} > {MAX_ATTRIBUTES}.")
        for key, value in attributes.items():
            if not isinstance(value, str):
                raise PubSubError(400, f"Invalid value at 'messages[{index}].attributes[{key}]': not a string.")
            if not key or len(key.encode()) > MAX_ATTRIBUTE_KEY_BYTES:
                raise PubSubError(400, f"An attribute key is empty or longer than {MAX_ATTRIBUTE_KEY_BYTES} bytes.")
            if len(value.encode()) > MAX_ATTRIBUTE_VALUE_BYTES:
                raise PubSubError(400, f"An attribute value is longer than {MAX_ATTRIBUTE_VALUE_BYTES} bytes.")
        parsed.append({"data": data, "attributes": attributes, "orderingKey": message.get("orderingKey", "")})
    return parsed


class PublishHandler(JsonHandler):
    """Pub/Sub's publish method for one topic, and the control paths."""

    topic: Topic  # bound per server by make_handler

    server_version = "ESF"
    sys_version = ""

    def _error(self, exc: PubSubError) -> None:
        with self.topic._lock:
            self.topic.counters["refused"] += 1
        status = _STATUS_NAMES.get(exc.code, "UNKNOWN")
        self.send_json(exc.code, {"error": {"code": exc.code, "message": str(exc), "status": status}})

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/_messages":
            with self.topic._lock:
                return self.send_json(200, {"topic": self.topic.name, "messages": list(self.topic.messages)})
        if path == "/_stats":
            with self.topic._lock:
                return self.send_json(200, dict(self.topic.counters))
        self._error(PubSubError(404, "Not found."))

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES + 1024:
            self.close_connection = True
            return self._error(PubSubError(400, "Request payload size exceeds the limit."))
        body = self.rfile.read(length)
        if path == "/_forward":
            try:
                return self.send_json(200, {"messageId": self.topic.forward(body)})
            except PubSubError as exc:
                return self._error(exc)
        if path == "/_fail":
            spec = json.loads(body or b"{}")
            self.topic.fail_next(int(spec.get("count", 1)), int(spec.get("status", 503)))
            return self.send_json(200, {})
        match = re.fullmatch(r"/v1/(projects/[^/]+/topics/[^/:]+):publish", path)
        if not match:
            return self._error(PubSubError(404, "Not found."))
        try:
            ids = self.topic.publish(match.group(1), self.headers.get("Authorization"), body)
        except PubSubError as exc:
            return self._error(exc)
        self.send_json(200, {"messageIds": ids})


def make_handler(topic: Topic) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (PublishHandler,), {"topic": topic})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.pubsub", description="Local stand-in for Pub/Sub publish.")
    parser.add_argument("--port", type=port_number, required=True, help="TCP port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--tokeninfo", required=True, help="URL of the metadata stand-in's /tokeninfo")
    parser.add_argument("--topic", required=True, help="the one topic: projects/<project>/topics/<name>")
    parser.add_argument("--publisher", required=True, help="the one service-account email allowed to publish")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    if not _TOPIC.match(args.topic):
        print(f"local.pubsub: --topic {args.topic!r} is not projects/<project>/topics/<name>", file=sys.stderr)
        return 2
    if args.publisher.count("@") != 1:
        print(f"local.pubsub: --publisher {args.publisher!r} is not an email address", file=sys.stderr)
        return 2
    try:
        server = loopback_server(args.host, args.port, make_handler(Topic(args.topic, args.publisher, args.tokeninfo)))
    except OSError as exc:
        print(f"local.pubsub: {exc}", file=sys.stderr)
        return 2
    return serve_until_interrupted(server, topic=args.topic)


if __name__ == "__main__":
    sys.exit(main())
