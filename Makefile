# The README's two commands: `make run` and `make test`. Both bootstrap what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the tests need, as "command:package" pairs.
SYSTEM_DEPS := tmux:tmux redis-server:redis-server initdb:postgresql

.PHONY: run test lint typecheck pytest venv system-deps bench clean

run: $(VENV)/.installed
	$(BIN)/runbook rehearse

test: system-deps $(VENV)/.installed-test lint typecheck pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/vulture

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

pytest: $(VENV)/.installed-test
	$(BIN)/pytest -q

# every bench runs even when an earlier one missed a target (exit 1); the status says if any did
bench: $(VENV)/.installed-test
	@rc=0; for b in engine.py services.py kube.py "tui.py --quick" pairing.py; do \
	  echo "== bench/$$b"; $(BIN)/python bench/$$b || rc=1; \
	done; exit $$rc

venv: $(VENV)/.installed

$(VENV)/bin/python:
	@if ! $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
	  echo "runbook needs Python 3.11 or newer as '$(PYTHON)'"; exit 1; fi
	@if ! $(PYTHON) -m venv $(VENV) 2>/dev/null; then \
	  rm -rf $(VENV); \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing python3-venv with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; \
	    $(PYTHON) -m venv $(VENV); \
	  else echo "python3 -m venv failed: install python3-venv (sudo apt-get install python3-venv)"; exit 1; fi; \
	fi
	$(BIN)/python -m pip install -q --upgrade pip

# (the uninstall: a .venv made when the distribution was still named "runbook", not runbook-tui)
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	@$(BIN)/pip uninstall -q -y runbook >/dev/null 2>&1 || true
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	@$(BIN)/pip uninstall -q -y runbook >/dev/null 2>&1 || true
	$(BIN)/pip install -q -e '.[test]'
	@touch $(VENV)/.installed $@

system-deps:
	@missing=""; for pair in $(SYSTEM_DEPS); do \
	  cmd=$${pair%%:*}; pkg=$${pair#*:}; \
	  command -v $$cmd >/dev/null 2>&1 || [ -n "$$(ls /usr/lib/postgresql/*/bin/$$cmd 2>/dev/null)" ] \
	    || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing with apt-get:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing system packages:$$missing (install them with: sudo apt-get install$$missing)"; exit 1; fi; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
