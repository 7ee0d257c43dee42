# Two commands on a fresh machine: `make run` (the dashboard) and `make test` (the suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8501
# ADDRESS: 127.0.0.1 for `make run`, 0.0.0.0 for `make lab`, unless given.

.PHONY: install run lab test test-fast bench screenshots browser clean

install: $(STAMP)

# Rebuilt only when the requirements change; a half-made venv is finished, not redone.
$(STAMP): requirements.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	@touch $(STAMP)

# The launcher refuses a non-loopback ADDRESS here: the network needs lab mode's logins.
run: install
	$(PY) -m tuning_core serve --port $(PORT) --address $(or $(ADDRESS),127.0.0.1)

# Lab mode: on the network, every request behind a login (see README, "Lab mode").
lab: install
	$(PY) -m tuning_core serve --lab --port $(PORT) --address $(or $(ADDRESS),0.0.0.0)

# Browser tests need Debian's Chromium (Playwright cannot download its own here).
browser:
	@bash scripts/ensure_chromium.sh

test: install browser
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not training and not browser"

bench: install
	$(PY) -m bench

screenshots: install browser
	SCREENSHOTS=1 $(PY) -m pytest tests/browser/test_journey.py

clean:
	rm -rf $(VENV) .pytest_cache
