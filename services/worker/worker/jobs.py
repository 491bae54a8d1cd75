"""The work itself: jobs sized by the message, validated before anything runs.

`hash` and `primes` are CPU-bound; `sign` needs the upstream API key (worker/upstream.py), read only when such
a job runs.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable
from typing import Any

MAX_HASH_ITERATIONS = 5_000_000
MAX_PRIME_LIMIT = 20_000_000
MAX_INPUT_CHARS = 1024


class InvalidJob(ValueError):
    pass


def _int_field(job: dict[str, Any], name: str, low: int, high: int) -> int:
    value = job.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidJob(f"`{name}` must be an integer")
    if not low <= value <= high:
        raise InvalidJob(f"`{name}` must be between {low} and {high}")
    return value


def _encodable(text: str) -> bool:
    # JSON's \ud800 escapes decode to lone surrogates, which UTF-8 cannot encode.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validate(job: Any) -> dict[str, Any]:
    """Returns a normalised job or raises InvalidJob naming the problem."""
    if not isinstance(job, dict):
        raise InvalidJob("`job` must be an object")
    task = job.get("task")
    if task == "hash":
        data = job.get("input", "")
        if not isinstance(data, str) or len(data) > MAX_INPUT_CHARS:
            raise InvalidJob(f"`input` must be a string of at most {MAX_INPUT_CHARS} characters")
        if not _encodable(data):
            raise InvalidJob("`input` must be valid Unicode (it holds a lone surrogate)")
        return {"task": "hash", "input": data, "iterations": _int_field(job, "iterations", 1, MAX_HASH_ITERATIONS)}
    if task == "primes":
        return {"task": "primes", "limit": _int_field(job, "limit", 2, MAX_PRIME_LIMIT)}
    if task == "sign":
        data = job.get("input")
        if not isinstance(data, str) or not data or len(data) > MAX_INPUT_CHARS:
            raise InvalidJob(f"`input` must be a string of 1 to {MAX_INPUT_CHARS} characters")
        if not _encodable(data):
            raise InvalidJob("`input` must be valid Unicode (it holds a lone surrogate)")
        return {"task": "sign", "input": data}
    raise InvalidJob("`task` must be one of: hash, primes, sign")


def run(job: dict[str, Any], upstream_key: Callable[[], str]) -> dict[str, Any]:
    """Runs a validated job; `upstream_key` is called only by a job that needs the key (it may raise)."""
    if job["task"] == "hash":
        # PBKDF2 runs in OpenSSL with the GIL released, so concurrent jobs use every core.
        digest = hashlib.pbkdf2_hmac("sha256", job["input"].encode(), b"secure-invoke", job["iterations"])
        return {"sha256_pbkdf2": digest.hex(), "iterations": job["iterations"]}
    if job["task"] == "sign":
        # What the upstream API checks a signed request by: HMAC-SHA256 of the payload under its key.
        mac = hmac.new(upstream_key().encode(), job["input"].encode(), hashlib.sha256)
        return {"hmac_sha256": mac.hexdigest(), "input_chars": len(job["input"])}
    return count_primes(job["limit"])


def count_primes(limit: int) -> dict[str, Any]:
    """Primes below `limit` by a sieve of Eratosthenes."""
    sieve = bytearray([1]) * limit
    sieve[0:2] = b"\x00\x00"
    for n in range(2, math.isqrt(limit - 1) + 1):
        if sieve[n]:
            sieve[n * n :: n] = bytes(len(range(n * n, limit, n)))
    count = sieve.count(1)
    largest = sieve.rindex(1) if count else None
    return {"limit": limit, "prime_count": count, "largest_prime": largest}
