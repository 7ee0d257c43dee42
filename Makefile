# Two commands on a fresh machine: `make run` (the dashboard) and `make test` (the suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8501
# ADDRESS: 127.0.0.1 for `make run`, 0.0.0.0 for `make lab`, unless given.

.PHONY: install run lab test test-fast lint wheel bench screenshots browser clean

install: $(STAMP)

# Rebuilt only when the requirements change; a half-made venv is finished, not redone.
# The checkout itself is installed editable, so .venv/bin/tuning-dashboard is the command too.
$(STAMP): requirements.txt constraints.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps --editable .
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

# Two test processes (pytest-xdist), each test file whole in one of them (its fixtures made
# once): the suite waits on servers, browsers and installs half the time. TEST_WORKERS=0: one.
TEST_WORKERS ?= 2
test: install browser
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

test-fast: install
	$(PY) -m pytest -m "not training and not browser"

# Also part of `make test` (tests/test_lint.py); here alone, for a quick look.
lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy

# The wheel and sdist that `pip install` takes, in dist/.
wheel: install
	$(PY) -m build --outdir dist .

bench: install
	$(PY) -m bench

# Renews docs/screenshots/*.png and their dates in the README (tests/browser/gallery.py).
screenshots: install browser
	SCREENSHOTS=1 $(PY) -m pytest tests/browser/test_journey.py tests/browser/test_exports.py \
		tests/browser/test_choose.py tests/browser/test_find.py

clean:
	rm -rf $(VENV) .pytest_cache dist
