"""Worker settings, read once from the environment the stack sets (see README, runtime section)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"

# Honoured only together with HARNESS_ONLY_VARIABLE, which the stack never sets: the benchmark
# harness uses it to measure what verification costs. See README, runtime section.
AUTH_OFF_VARIABLE = "SECURE_INVOKE_BENCH_AUTH_OFF"
HARNESS_ONLY_VARIABLE = "SECURE_INVOKE_BENCH_HARNESS"


class ConfigError(ValueError):
    """A missing or invalid setting; its message names the variable."""


@dataclass(frozen=True)
class WorkerConfig:
    audience: str
    allowed_invokers: frozenset[str]
    certs_url: str = GOOGLE_CERTS_URL
    upstream_api_key: str | None = None
    verify_tokens: bool = True
    # gunicorn threads = requests served at once; the stack sets it to the service's container concurrency.
    threads: int = 8


def load_config(environ: Mapping[str, str] | None = None) -> WorkerConfig:
    env = os.environ if environ is None else environ
    audience = env.get("INVOKER_AUDIENCE", "").strip()
    if not audience:
        raise ConfigError("INVOKER_AUDIENCE is not set (the audience callers mint their ID tokens for)")
    allowed = frozenset(e.strip().lower() for e in env.get("ALLOWED_INVOKERS", "").split(",") if e.strip())
    if not allowed:
        raise ConfigError("ALLOWED_INVOKERS is empty (comma-separated service-account emails)")
    bad = sorted(e for e in allowed if e.count("@") != 1 or e.startswith("@") or e.endswith("@"))
    if bad:
        raise ConfigError(f"ALLOWED_INVOKERS has entries that are not emails: {', '.join(bad)}")
    certs_url = env.get("GOOGLE_CERTS_URL", "").strip() or GOOGLE_CERTS_URL
    if not certs_url.startswith(("https://", "http://")):
        raise ConfigError(f"GOOGLE_CERTS_URL is not an http(s) URL: {certs_url!r}")
    threads_text = env.get("WORKER_THREADS", "").strip() or "8"
    if not threads_text.isdigit() or not 1 <= int(threads_text) <= 100:
        raise ConfigError(f"WORKER_THREADS must be an integer within 1..100, got {threads_text!r}")
    verify_tokens = True
    if env.get(AUTH_OFF_VARIABLE):
        # Fail closed and loud: on Cloud Run (K_SERVICE is always set there) or on any non-loopback
        # bind, asking to switch verification off stops the worker instead.
        if env.get("K_SERVICE") or env.get("HOST") != "127.0.0.1" or env.get(HARNESS_ONLY_VARIABLE) != "1":
            raise ConfigError(
                f"{AUTH_OFF_VARIABLE} is set outside the benchmark harness (needs {HARNESS_ONLY_VARIABLE}=1, "
                "HOST=127.0.0.1 and no K_SERVICE); refusing to start"
            )
        verify_tokens = env.get(AUTH_OFF_VARIABLE) != "1"
    return WorkerConfig(
        audience=audience,
        allowed_invokers=allowed,
        certs_url=certs_url,
        upstream_api_key=env.get("UPSTREAM_API_KEY") or None,
        verify_tokens=verify_tokens,
        threads=int(threads_text),
    )
