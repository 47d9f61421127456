# credit-ingest — every target creates or reuses .venv, so a fresh clone needs only make + Python 3.11.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install tools demo test lint typecheck bench clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*##' Makefile | sed 's/:.*##/\t/'

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the platform with its dev tools

demo: $(STAMP)  ## run the embedded platform on a synthetic month and print the summary
	$(BIN)/credit demo

test: $(STAMP) tools  ## the whole test suite (unit, integration, faults on the real broker and chDB)
	$(BIN)/pytest -q --durations=15

tools:  ## system tools the tests use: promtool (alert rules); Chromium, its driver, Firefox ESR and a CJK font (the console)
	@command -v promtool >/dev/null && command -v chromium >/dev/null && \
	  command -v chromedriver >/dev/null && command -v firefox-esr >/dev/null && \
	  test -d /usr/share/fonts/truetype/wqy || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	  --no-install-recommends prometheus chromium chromium-driver firefox-esr fonts-wqy-zenhei; }

lint: $(STAMP)  ## ruff lint and format check, and the import layers (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)  ## mypy (strict) over every package and the tests
	$(BIN)/mypy

bench: $(STAMP)  ## throughput and latency benchmark with baselines
	$(BIN)/credit bench

clean:  ## remove the virtualenv and the embedded data dir
	rm -rf $(VENV) .credit
