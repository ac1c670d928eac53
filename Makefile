# lesion-pipeline: set-up, demo, tests. Needs only Python >= 3.11 and make.
#   make demo   install, generate the sample study, run the pipeline, print the summary
#   make test   install (if needed) and run the test suite

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SIZE ?= full
SEED ?= 1
GENERATED := sample_data/generated
DEMO_DATA := $(GENERATED)/demo
DEMO_OUT := $(GENERATED)/demo-results
STUDY ?=
STUDIES ?=
OUT ?=
TARGETS ?=
WORKERS ?=
SCHEDULER ?=
TIMEOUT ?=
FORCE ?=
AUTO ?=
PYTEST_ARGS ?=

.PHONY: install browser demo test lint validate sample-data run batch bench clean
BENCH_STAMP := $(VENV)/.bench-stamp

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "lesion-pipeline needs Python >= 3.11, found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# generated again when the generator changes (sample_data/*.py newer than the study)
$(DEMO_DATA)/ground_truth.json: $(wildcard sample_data/*.py) | $(STAMP)
	$(BIN)/lesion-pipeline sample-data $(DEMO_DATA) --size $(SIZE) --seed $(SEED) --force

sample-data: $(DEMO_DATA)/ground_truth.json

# the headless browser that prints report.pdf: Debian's chromium, installed when missing (as root, with apt-get);
# LESION_PIPELINE_CHROMIUM=/path/to/browser uses another one
browser:
	@[ -n "$$LESION_PIPELINE_CHROMIUM" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	command -v google-chrome >/dev/null 2>&1 || command -v google-chrome-stable >/dev/null 2>&1 || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium (it prints report.pdf)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "report.pdf needs a headless Chromium: sudo apt-get install chromium (Debian), or set LESION_PIPELINE_CHROMIUM" >&2; \
		exit 1; \
	fi

$(DEMO_OUT)/report.pdf: $(DEMO_DATA)/ground_truth.json | $(STAMP) browser
	$(BIN)/lesion-pipeline run $(DEMO_DATA)/study -o $(DEMO_OUT) --quiet --pdf
	@test -f $@ || { echo "report.pdf was not written (see the warning above)" >&2; exit 1; }

demo: $(DEMO_OUT)/report.pdf
	@cat $(DEMO_OUT)/summary.txt
	@echo "Results: $(abspath $(DEMO_OUT)) (report.html, report.pdf, measurements.csv, response.csv, best_response.csv, summary.txt, summary.json, run.json, masks/, qc/)"
	@echo "Ground truth of the sample study: $(abspath $(DEMO_DATA))/ground_truth.json"

# the tests of one file share a worker (and its module fixtures), the longest files first (tests/file_order.py);
# one worker per core on CI's 2 cores
TEST_WORKERS ?= 2

# the Cornerstone3D adapters (the code OHIF uses to read SR) for the viewer test, when npm is available
VIEWER_MODULES := tests/viewer/node_modules/.package-lock.json
$(VIEWER_MODULES): tests/viewer/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/viewer --no-audit --no-fund --silent; else echo "npm not found: the viewer (Cornerstone3D) test will be skipped"; fi

test: $(STAMP) $(VIEWER_MODULES)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# lint and type checks (run by .ci/run)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# accuracy on real scans (../shared/realdata, or REALDATA=dir), plus a user's own cases (DATA=dir laid out the same
# way): per-case tables and a summary; exits non-zero when an accuracy target is missed
REALDATA ?= ../shared/realdata
DATA ?=
validate: $(STAMP)
	$(BIN)/python tests/validation/validate.py --realdata "$(REALDATA)" $(if $(DATA),--data "$(DATA)") $(if $(STRICT),--strict)

run: $(STAMP)
	@test -n "$(STUDY)" -a -n "$(OUT)" || { echo "usage: make run STUDY=dir OUT=dir [TARGETS=file | AUTO=1]"; exit 2; }
	$(BIN)/lesion-pipeline run "$(STUDY)" -o "$(OUT)" $(if $(TARGETS),--targets "$(TARGETS)") $(if $(AUTO),--auto)

batch: $(STAMP)
	@test -n "$(STUDIES)" -a -n "$(OUT)" || { echo "usage: make batch STUDIES=dir OUT=dir [WORKERS=n | SCHEDULER=tcp://host:port|file] [TIMEOUT=seconds] [MEMORY_LIMIT=MB] [FORCE=1] [AUTO=1]"; exit 2; }
	$(BIN)/lesion-pipeline batch "$(STUDIES)" -o "$(OUT)" $(if $(WORKERS),--workers $(WORKERS)) $(if $(SCHEDULER),--scheduler "$(SCHEDULER)") $(if $(TIMEOUT),--timeout $(TIMEOUT)) $(if $(MEMORY_LIMIT),--memory-limit $(MEMORY_LIMIT)) $(if $(FORCE),--force) $(if $(AUTO),--auto)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@touch $(BENCH_STAMP)

# every tests/benchmarks/bench_*.py, one after the other (not part of `make test`); reference tools
# (itk-elastix) come with the "bench" extra
bench: $(BENCH_STAMP)
	@set -e; for f in tests/benchmarks/bench_*.py; do [ -e "$$f" ] || continue; echo "== $$f"; $(BIN)/python "$$f"; done

clean:
	rm -rf $(GENERATED) .pytest_cache
