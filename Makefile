# Two commands on a fresh clone: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench serve fuzz reliability pdf-engine java clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/onshore demo

test: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The API and the dashboard on http://127.0.0.1:8000/ (local single-user mode, default store).
serve: $(STAMP)
	$(BIN)/onshore serve

# The long reliability campaign (the test suite runs a small one): generated input for every
# importer and YAML loader, SIGKILLed imports and checks, backup round-trips. Bounded: at
# most FUZZ_EXAMPLES cases or FUZZ_SECONDS per input kind (7 kinds), CRASH_RUNS per command.
FUZZ_EXAMPLES ?= 5000
FUZZ_SECONDS ?= 300
CRASH_RUNS ?= 50
fuzz: $(STAMP)
	$(BIN)/python tools/reliability.py --examples $(FUZZ_EXAMPLES) --seconds $(FUZZ_SECONDS) --crash-runs $(CRASH_RUNS)

# The same with the default bounds (2000 cases or 90 s per kind); prints the figures and
# writes them to docs/reliability.md.
reliability: $(STAMP)
	$(BIN)/python tools/reliability.py --examples 2000 --seconds 90 --crash-runs 50 --doc

# Headless Chromium from Debian, for `onshore report --pdf`, and poppler-utils, with which the
# PDF test reads the pages back. Needs root.
pdf-engine:
	(command -v chromium && command -v pdfinfo) >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium poppler-utils >/dev/null)

# A Java runtime from Debian, for the Spark engine (`--engine spark` and its tests). Needs root.
java:
	command -v java >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq default-jre-headless >/dev/null)

clean:
	rm -rf $(VENV) build dist .pytest_cache onshore-demo
