"""The worker's settings, read once from the environment variables the stack sets (see README, runtime section)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
_PROJECT = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
_KIND = re.compile(r"^[a-z][a-z0-9-]{0,31}$")

# Honoured only together with HARNESS_ONLY_VARIABLE, which the stack never sets: the benchmark
# harness uses it to measure what verification costs. See README, runtime section.
AUTH_OFF_VARIABLE = "SECURE_INVOKE_BENCH_AUTH_OFF"
HARNESS_ONLY_VARIABLE = "SECURE_INVOKE_BENCH_HARNESS"
# Set by the deployment that switches Cloud Run's IAM invoker check on for this service (the stack sets it
# together with invoker_iam_disabled=False): only then is a token whose signature Cloud Run removed one
# that Cloud Run verified. See docs/design.md §3.
INVOKER_CHECK_VARIABLE = "CLOUD_RUN_INVOKER_IAM_CHECK"
INVOKER_CHECK_ENFORCED = "enforced"


class ConfigError(ValueError):
    """A missing or invalid setting; its message names the variable."""


@dataclass(frozen=True)
class WorkerConfig:
    audience: str
    allowed_invokers: frozenset[str]
    certs_url: str = GOOGLE_CERTS_URL
    # Where Cloud Run mounts the upstream API key (a secret volume); read when a job needs it (worker/upstream.py).
    upstream_api_key_file: str | None = None
    verify_tokens: bool = True
    # Request threads = requests served at once; the stack sets it to the service's container concurrency.
    threads: int = 8
    # The certs policy (worker/certs.py): one overall deadline per fetch, at most one refetch per
    # interval for unknown key ids (also the longest backoff), and how long the last good key set
    # may outlive its HTTP freshness while refreshing fails.
    certs_fetch_deadline_seconds: float = 5.0
    certs_refresh_interval_seconds: float = 30.0
    certs_max_stale_seconds: float = 3600.0
    # For the audit line's logging.googleapis.com/trace (projects/<id>/traces/<trace>).
    project: str | None = None
    # Allowed invokers that are the operator account people borrow (audit `caller_kind: operator`);
    # every other allowed invoker is a relay.
    operator_invokers: frozenset[str] = frozenset()
    # Behind Cloud Run's IAM invoker check: tokens whose signature Cloud Run removed are accepted on their
    # claims (INVOKER_CHECK_VARIABLE); otherwise only tokens the worker verifies itself.
    behind_cloud_run_invoker_check: bool = False
    # Other kinds of allowed invokers (e.g. "scheduler" for an Authorization-only caller), by email.
    other_kinds: tuple[tuple[str, str], ...] = ()

    def caller_kinds(self) -> dict[str, str]:
        """Each allowed invoker's kind for the audit line: operator, a declared kind (CALLER_KINDS), else relay."""
        declared = dict(self.other_kinds)
        return {
            email: "operator" if email in self.operator_invokers else declared.get(email, "relay")
            for email in self.allowed_invokers
        }


def load_config(environ: Mapping[str, str] | None = None) -> WorkerConfig:
    env = os.environ if environ is None else environ
    audience = env.get("INVOKER_AUDIENCE", "").strip()
    if not audience:
        raise ConfigError("INVOKER_AUDIENCE is not set (the audience callers mint their ID tokens for)")
    allowed = _emails(env, "ALLOWED_INVOKERS")
    if not allowed:
        raise ConfigError("ALLOWED_INVOKERS is empty (comma-separated service-account emails)")
    operators = _emails(env, "OPERATOR_INVOKERS")
    strays = sorted(operators - allowed)
    if strays:
        raise ConfigError(f"OPERATOR_INVOKERS has entries that are not in ALLOWED_INVOKERS: {', '.join(strays)}")
    other_kinds = _kinds(env, allowed, operators)
    certs_url = env.get("GOOGLE_CERTS_URL", "").strip() or GOOGLE_CERTS_URL
    if not certs_url.startswith(("https://", "http://")):
        raise ConfigError(f"GOOGLE_CERTS_URL is not an http(s) URL: {certs_url!r}")
    threads_text = env.get("WORKER_THREADS", "").strip() or "8"
    if not threads_text.isdigit() or not 1 <= int(threads_text) <= 100:
        raise ConfigError(f"WORKER_THREADS must be an integer within 1..100, got {threads_text!r}")
    deadline = _seconds(env, "CERTS_FETCH_DEADLINE_SECONDS", 5.0, 0.1, 30.0)
    interval = _seconds(env, "CERTS_REFRESH_INTERVAL_SECONDS", 30.0, 1.0, 3600.0)
    max_stale = _seconds(env, "CERTS_MAX_STALE_SECONDS", 3600.0, 0.0, 24 * 3600.0)
    project = env.get("GOOGLE_CLOUD_PROJECT", "").strip() or None
    if project is not None and not _PROJECT.match(project):
        raise ConfigError(f"GOOGLE_CLOUD_PROJECT is not a project id: {project!r}")
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
        behind_cloud_run_invoker_check=_invoker_check(env),
        audience=audience,
        allowed_invokers=allowed,
        certs_url=certs_url,
        upstream_api_key_file=env.get("UPSTREAM_API_KEY_FILE", "").strip() or None,
        verify_tokens=verify_tokens,
        threads=int(threads_text),
        certs_fetch_deadline_seconds=deadline,
        certs_refresh_interval_seconds=interval,
        certs_max_stale_seconds=max_stale,
        project=project,
        operator_invokers=operators,
        other_kinds=other_kinds,
    )


def _kinds(env: Mapping[str, str], allowed: frozenset[str], operators: frozenset[str]) -> tuple[tuple[str, str], ...]:
    """CALLER_KINDS: comma-separated `email=kind` for allowed invokers that are neither relays nor operators."""
    kinds: dict[str, str] = {}
    for entry in (e.strip() for e in env.get("CALLER_KINDS", "").split(",")):
        if not entry:
            continue
        email, _, kind = entry.partition("=")
        email, kind = email.strip().lower(), kind.strip()
        if email not in allowed or email in operators:
            raise ConfigError(f"CALLER_KINDS names {email!r}, which is not a non-operator entry of ALLOWED_INVOKERS")
        if not _KIND.match(kind) or kind == "operator":
            raise ConfigError(f"CALLER_KINDS: {kind!r} is not a kind (lowercase letters, digits, '-'; not 'operator')")
        kinds[email] = kind
    return tuple(sorted(kinds.items()))


def _invoker_check(env: Mapping[str, str]) -> bool:
    value = env.get(INVOKER_CHECK_VARIABLE, "").strip()
    if not value:
        return False
    if value != INVOKER_CHECK_ENFORCED:
        raise ConfigError(f"{INVOKER_CHECK_VARIABLE} must be {INVOKER_CHECK_ENFORCED!r} or unset, got {value!r}")
    # Not proof of the check (nothing inside a container is), but it stops the setting from taking effect
    # where it certainly is wrong: off Cloud Run (K_SERVICE is always set there; local mode's front-end
    # stand-in sets it), or on a loopback port that anything on the machine can reach around the front end.
    if not env.get("K_SERVICE"):
        raise ConfigError(f"{INVOKER_CHECK_VARIABLE} is set but K_SERVICE is not: not on Cloud Run; refusing to start")
    if not env.get("UNIX_SOCKET") and env.get("HOST", "0.0.0.0").startswith("127."):  # noqa: S104
        raise ConfigError(
            f"{INVOKER_CHECK_VARIABLE} is set on a loopback port, which bypasses the front end; "
            "local mode serves the worker on a private UNIX_SOCKET behind its Cloud Run stand-in"
        )
    return True


def _emails(env: Mapping[str, str], name: str) -> frozenset[str]:
    """A comma-separated list of emails, ASCII-lowercased; ConfigError naming `name` for a bad entry."""
    entries = [e.strip() for e in env.get(name, "").split(",") if e.strip()]
    # Compared exactly after ASCII lowercasing; a non-ASCII address could only match by Unicode folding.
    non_ascii = [e for e in entries if not e.isascii()]
    if non_ascii:
        raise ConfigError(f"{name} has non-ASCII entries: {', '.join(ascii(e) for e in non_ascii)}")
    emails = frozenset(e.lower() for e in entries)
    bad = sorted(e for e in emails if e.count("@") != 1 or e.startswith("@") or e.endswith("@"))
    if bad:
        raise ConfigError(f"{name} has entries that are not emails: {', '.join(bad)}")
    return emails


def _seconds(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not low <= value <= high:  # NaN fails this too
        raise ConfigError(f"{name} must be a number of seconds within {low:g}..{high:g}, got {text!r}")
    return value
