"""What verification costs the worker itself: CPU time per request of the worker's WSGI app, in process,
with and without verification, and of the verifier alone.

The load benchmark (load.py) measures through HTTP with 32 client threads on the same 2 CPUs, where the
clients and the server's I/O take most of the CPU and a busy shared machine adds ±30 % per phase: it cannot
tell a few tens of microseconds apart. This one calls the app directly (no sockets, no client threads) and
counts process CPU time, so other work on the machine slows both variants alike.

- app, verification on / off: POST /jobs (`primes`, limit 100, a new id each time) through the whole app,
  audit line included (written to /dev/null), with one token reused as the relay reuses its token;
- verifier: `TokenVerifier.verify` alone, for a reused token (its signature verified before) and for a new
  token each time (RSA included).

    python benchmarks/verify_cost.py [--requests 2000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "services" / "worker"))

from google.auth import jwt  # noqa: E402
from worker.app import create_app  # noqa: E402
from worker.auth import TokenVerifier  # noqa: E402
from worker.certs import CertsCache, Fetched  # noqa: E402
from worker.environment import load_config  # noqa: E402

from local.metadata_server import Identity, load_or_create_key  # noqa: E402

EMAIL = "relay-runtime-bench@secure-invoke-bench.iam.gserviceaccount.com"
AUDIENCE = "https://worker.secure-invoke.local"
HARNESS_ENV = {"SECURE_INVOKE_BENCH_AUTH_OFF": "1", "SECURE_INVOKE_BENCH_HARNESS": "1"}


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


def cpu_microseconds(call: Callable[[int], Any], count: int, rounds: int) -> list[float]:
    """Process CPU time per call, one figure per round."""
    figures, n = [], 0
    for _ in range(rounds):
        began = time.process_time()
        with quiet():
            for _ in range(count):
                n += 1
                call(n)
        figures.append((time.process_time() - began) / count * 1e6)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=2000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per variant, interleaved")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        identity = Identity(EMAIL, load_or_create_key(Path(tmp) / "key.pem"), 3600, 3600)
    certs = json.loads(identity.certs_body)

    def cache() -> CertsCache:
        return CertsCache(lambda _deadline: Fetched(certs, 3600), start=lambda run: run())

    base = {"INVOKER_AUDIENCE": AUDIENCE, "ALLOWED_INVOKERS": EMAIL, "HOST": "127.0.0.1"}
    with quiet():
        apps = {
            "on": create_app(load_config(base), certs=cache()),
            "off": create_app(load_config({**base, **HARNESS_ENV}), certs=cache()),
        }
    token = identity.mint(AUDIENCE)

    def request(app: Any) -> Callable[[int], Any]:
        def call(n: int) -> Any:
            body = json.dumps({"id": f"id-{n}", "job": {"task": "primes", "limit": 100}}).encode()
            environ = {
                "REQUEST_METHOD": "POST",
                "PATH_INFO": "/jobs",
                "SERVER_NAME": "worker",
                "SERVER_PORT": "8080",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "wsgi.url_scheme": "http",
                "wsgi.input": io.BytesIO(body),
                "wsgi.errors": sys.stderr,
                "wsgi.input_terminated": True,
                "CONTENT_LENGTH": str(len(body)),
                "CONTENT_TYPE": "application/json",
                "HTTP_AUTHORIZATION": f"Bearer {token}",
            }
            return b"".join(app(environ, lambda *_: None))

        return call

    app_figures: dict[str, list[float]] = {"on": [], "off": []}
    for round_ in range(args.rounds):
        for name in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
            app_figures[name] += cpu_microseconds(request(apps[name]), args.requests, 1)

    verifier = TokenVerifier(AUDIENCE, {EMAIL: "relay"}, cache())
    claims = jwt.decode(token, verify=False)
    # Each one a different text (a nonce claim): the signature is verified every time.
    fresh = [f"Bearer {jwt.encode(identity.signer, {**claims, 'nonce': n}).decode()}" for n in range(args.requests)]
    reused = cpu_microseconds(lambda _n: verifier.verify(f"Bearer {token}"), args.requests, args.rounds)
    new = cpu_microseconds(lambda n: verifier.verify(fresh[n % len(fresh)]), len(fresh), 1)

    on, off = statistics.median(app_figures["on"]), statistics.median(app_figures["off"])
    print(f"verify cost: {args.rounds} rounds of {args.requests} calls per variant, medians (min .. max), CPU µs")
    for name, figures in app_figures.items():
        spread = f"({min(figures):.1f} .. {max(figures):.1f})"
        print(f"  app, verification {name:<4}{statistics.median(figures):8.1f}  {spread}")
    print(f"  verifier, reused token {statistics.median(reused):7.1f}  ({min(reused):.1f} .. {max(reused):.1f})")
    print(f"  verifier, new token    {statistics.median(new):7.1f}")
    print(f"verification adds {on - off:.1f} µs per request to the app's {off:.1f} µs ({(on / off - 1) * 100:+.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
