"""gunicorn settings for the worker; the same file serves Cloud Run, local mode and the tests.

One process with threads: the idempotency store lives in process memory, so one process per
instance makes it the per-instance store; Cloud Run scales out by adding instances. Set the
service's container concurrency to `threads` (the stack sets WORKER_THREADS to it).
"""

import os
import sys

from worker.environment import ConfigError, load_config

try:
    worker_settings = load_config()
except ConfigError as exc:
    # One clear line and a non-zero exit before any worker boots, instead of a boot-loop traceback.
    sys.exit(f"worker: configuration error: {exc}")

# Cloud Run sends traffic to $PORT on all interfaces; local mode and tests set HOST=127.0.0.1.
bind = [f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8080')}"]  # noqa: S104
workers = 1
# gthread, plus one audit line for the requests gunicorn refuses itself (worker/server.py).
worker_class = "worker.server.AuditedThreadWorker"
threads = worker_settings.threads
# Cloud Run allows 10 s between SIGTERM and SIGKILL: finish in-flight requests within that.
graceful_timeout = 8
timeout = 120  # a worker whose main loop stops answering this long is restarted
keepalive = 75  # above the idle timeout of Google's front ends, so they close connections first
accesslog = None  # the app writes its own audit line per request (worker/audit.py)
errorlog = "-"
loglevel = "info"
# gunicorn's own lines (start-up, refused requests) as JSON on stdout too (worker/server.py).
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "worker.server.JsonLogFormatter"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
    "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["stdout"], "propagate": False}},
    "root": {"level": "WARNING", "handlers": []},
}
# gunicorn 27's runtime control socket is management surface nobody here uses; several local
# instances would also contend for its one default path.
control_socket_disable = True
