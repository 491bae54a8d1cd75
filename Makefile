# Each target creates .venv from scratch when missing: a clean clone needs nothing but Python.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
VERSION = $(shell $(PY) -c 'import secure_invoke; print(secure_invoke.__version__)')

.PHONY: venv test lint docs preview preview-prod local bench lock audit dist example clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# The lock's pip first (its entry alone, hash-checked): the one a new venv starts with can be too old for
	# the lock (23.2 refuses a hashed requirement with extras).
	awk '/^pip==/ { p = 1; print; next } p && /^ / { print; next } { p = 0 }' requirements.txt > $(VENV)/pip.txt
	$(PIP) --require-hashes -r $(VENV)/pip.txt
	# Every distribution from the index is checked against the lock's hashes.
	$(PIP) --require-hashes -r requirements.txt
	# This repository's program imports the package as a user's does (secure_invoke.*), installed editable:
	# built from this checkout by the locked setuptools, nothing fetched (--no-deps, --no-build-isolation).
	$(PIP) --no-deps --no-build-isolation -e .
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/basedpyright

# Rewrite the README tables that mirror code: config keys, policies, the modules of the pack and of preflight.
docs: $(STAMP)
	$(PY) -m tools.docs

preview: $(STAMP)
	$(VENV)/bin/preflight --stack dev

preview-prod: $(STAMP)
	$(VENV)/bin/preflight --stack prod

local: $(STAMP)
	$(PY) -m local.demo

bench: $(STAMP)
	$(PY) benchmarks/preflight.py
	$(PY) benchmarks/auth.py
	$(PY) benchmarks/load.py

# The locks, all hash-pinned, Linux CPython (what CI, Cloud Run and Cloud Functions run): the repository's
# (requirements.in; kept pins stay, `make lock UPGRADE=1` moves to the newest allowed) and, at its versions,
# the pack's own (a published pack installs it), secure-invoke's dependencies (the example's locked install),
# and what deploys install: the relay's and the example function's (python312), the worker image's.
COMPILE = $(VENV)/bin/uv pip compile --quiet --generate-hashes --python-platform linux --custom-compile-command "make lock"
RELAY_ROOTS = functions-framework google-auth requests
WORKER_ROOTS = flask gunicorn google-auth requests cachecontrol
deployed = { printf '%s\n' '$(1)'; printf '%s\n' $(2) | $(COMPILE) --no-header --python-version $(3) -c requirements.txt -; } > $(4)
lock: $(STAMP)
	$(COMPILE) $(if $(UPGRADE),--upgrade) --python-version 3.11 requirements.in -o requirements.txt
	$(COMPILE) --python-version 3.11 -c requirements.txt policies/requirements.in -o policies/requirements.txt
	$(COMPILE) --python-version 3.11 -c requirements.txt pyproject.toml -o examples/two-services/requirements.lock
	$(call deployed,# Deployed with the relay (python312) by make lock: $(RELAY_ROOTS) and their closure.,$(RELAY_ROOTS),3.12,functions/relay/requirements.txt)
	$(call deployed,# Deployed with the function (python312) by make lock: $(RELAY_ROOTS) and their closure.,$(RELAY_ROOTS),3.12,examples/two-services/functions/ingest/requirements.txt)
	$(call deployed,# Installed into the worker image (python 3.11) by make lock: $(WORKER_ROOTS) and their closure.,$(WORKER_ROOTS),3.11,services/worker/requirements.txt)

# Known vulnerabilities (PyPI's advisory data) in every locked set; a finding fails unless
# .ci/audit-accepted.txt accepts it with a reason.
audit: $(STAMP)
	$(PY) -m tools.audit $(AUDIT_FLAGS)

# The wheel users install: dist/secure_invoke-<version>-py3-none-any.whl, built from this checkout offline.
dist: $(STAMP)
	rm -rf dist build
	$(PY) -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation -w dist .

# The wheel as a user gets it: installed into a fresh venv, then preflight on examples/two-services
# (must pass) and on its broken stack (must be rejected, naming the policy).
example: dist
	$(PY) -m tools.example --wheel dist/secure_invoke-$(VERSION)-py3-none-any.whl $(if $(OUT),--out $(OUT))

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis out dist build .ci/tools/node_modules
