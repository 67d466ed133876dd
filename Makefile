# Two commands do everything on a fresh clone with only Python 3.11+:
#   make run   — create .venv, install, run the monitor on the bundled config and sample feeds
#   make test  — create .venv, install with dev extras, run the suite but for its slow tests
#   make test-all — the whole suite, slow tests too (make test-slow: those alone)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test test-slow test-all install install-dev browser clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# An editable install leaves the package uncompiled, and with PYTHONDONTWRITEBYTECODE set every
# command would compile it again (~0.1 s of each start-up): compile it once, as pip does for a
# wheel. A source edited later is compiled in memory until the next compile.
COMPILE = $(BIN)/python -m compileall -q monitor >/dev/null

# `serve` (Datasette, for `monitor serve`) is an extra; `dev` includes it.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[serve]'
	$(COMPILE)
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(COMPILE)
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/monitor run

# Tests marked slow (pyproject.toml: long end-to-end loops) are left out of `make test`. The
# suite runs on every core (pytest-xdist): each test has its own files, ports and processes.
test: install-dev browser
	$(BIN)/python -m pytest -q -n auto -m "not slow"

test-slow: install-dev browser
	$(BIN)/python -m pytest -q -m slow

test-all: install-dev browser
	$(BIN)/python -m pytest -q -n auto

# The benchmark (bench/README.md): the issue's sizes, budgeted to end within about 80 minutes on a
# 2-core machine; writes bench/RESULTS.md and the plots. More options: make bench BENCH_ARGS="..."
bench: | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(COMPILE)
	$(BIN)/python bench/run.py --profile --budget-seconds 900 --daemon-budget-seconds 1200 \
	  --total-budget-seconds 4800 $(BENCH_ARGS)

# Browser tests drive Debian's headless Chromium; install it when we can (root with apt-get),
# otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1; } \
	  || echo "note: chromium is not installed and cannot be installed here; browser tests will be skipped"

clean:
	rm -rf $(VENV) var
