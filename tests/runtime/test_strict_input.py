"""Malformed input from a verified caller is the caller's mistake (400), and the Authorization header is read
by its grammar, not leniently (issue 24, finding 8)."""

from __future__ import annotations

import contextlib
import socket

import pytest
import requests

from local.processes import Proc
from tests.runtime.helpers import TokenForge, new_id, records


def raw_request(worker: Proc, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", int(worker.url.rsplit(":", 1)[1])), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        with contextlib.suppress(ConnectionResetError):  # the server may close with the request unread
            while chunk := conn.recv(4096):
                answer += chunk
    return answer


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\n{}\r\n0\r\n\r\n",  # a chunk size that is not hexadecimal
        b"1\r\n{}\r\n0\r\n\r\n",  # a chunk longer than its size
        b"2\r\n{}XX0\r\n\r\n",  # no CRLF after the chunk
    ],
    ids=["size not hex", "chunk longer than its size", "no CRLF after a chunk"],
)
def test_a_malformed_chunked_body_from_a_verified_caller_is_400(worker: Proc, forge: TokenForge, body: bytes) -> None:
    answer = raw_request(
        worker,
        b"POST /jobs HTTP/1.1\r\nHost: worker\r\nAuthorization: Bearer " + forge.sign().encode() + b"\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body,
    )
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split(b" ", 2)[1] == b"400", answer[:300]
    assert rest.endswith(b'{"error": "bad request"}')
    assert not [line for line in records(worker, message="request") if line["status"] == 500]


def _post(worker: Proc, authorization: str) -> requests.Response:
    body = {"id": new_id(), "job": {"task": "primes", "limit": 10}}
    return requests.post(worker.url + "/jobs", json=body, headers={"Authorization": authorization}, timeout=10)


def test_the_authorization_header_is_one_bearer_token_and_nothing_else(worker: Proc, forge: TokenForge) -> None:
    token = forge.sign()
    header, claims, signature = token.split(".")
    lenient = {
        "text after the token": f"Bearer {token} !!!",
        "a second token": f"Bearer {token} {token}",
        "base64 padding": f"Bearer {token}==",
        "padding inside a segment": f"Bearer {header}==.{claims}.{signature}",
        "a fourth segment": f"Bearer {token}.e30",
        "standard base64 alphabet": f"Bearer {header}.{claims}.{signature.replace('-', '+').replace('_', '/')}",
    }
    for name, authorization in lenient.items():
        if authorization == f"Bearer {token}":
            continue  # the signature had neither - nor _: nothing changed
        response = _post(worker, authorization)
        assert response.status_code == 401, f"{name}: {response.status_code}"
        assert response.json() == {"error": "invalid token"}
    # The same token, written as the grammar says: accepted (scheme case-insensitive, one or more spaces).
    for authorization in (f"Bearer {token}", f"bearer {token}", f"Bearer   {token}"):
        assert _post(worker, authorization).status_code == 200
