# Each target creates .venv from scratch when missing: a clean clone needs nothing but Python.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test lint docs preview preview-prod local bench lock clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	# This repository's program imports the package as a user's does (secure_invoke.*), installed editable.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/basedpyright

# The README tables that mirror code (config keys from settings/schema.py, policies from the pack's specs).
# Rewrite the README tables that mirror code: config keys, policies, the modules of the pack and of preflight.
docs: $(STAMP)
	$(PY) -m tools.docs

preview: $(STAMP)
	$(PY) -m secure_invoke.preflight --stack dev

preview-prod: $(STAMP)
	$(PY) -m secure_invoke.preflight --stack prod

local: $(STAMP)
	$(PY) -m local.demo

bench: $(STAMP)
	$(PY) benchmarks/preflight.py
	$(PY) benchmarks/auth.py
	$(PY) benchmarks/load.py

# Re-resolve requirements.in into the fully pinned requirements.txt.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -r requirements.in
	{ head -n 2 requirements.txt; .lock-venv/bin/pip freeze; } > requirements.txt.new && mv requirements.txt.new requirements.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis out .ci/tools/node_modules
