# `make run` and `make test` set everything up on a fresh machine.
VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
INDEX  ?= var/index
DOCS   ?= corpus
# `make run WATCH=` serves without following the docs folder.
WATCH  ?= --watch

.PHONY: setup tesseract browser test run rebuild lint bench clean

setup: $(STAMP) tesseract

# torch comes first and pinned: this machine has a local CPU wheel of 2.13.0, while an
# unpinned torch (pulled in by sentence-transformers) would download a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev,milvus,ray]'
	touch $(STAMP)

# Scanned PDF pages are read by Tesseract (Debian's tesseract-ocr). Without it (no root here)
# they are left out of the index and the rebuild's summary says how many.
tesseract:
	@command -v tesseract >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq tesseract-ocr tesseract-ocr-eng >/dev/null) || \
	  echo "warning: could not install tesseract-ocr: scanned PDF pages will not be read" >&2

# The browser test drives Debian's Chromium, and a fault test holds a rebuild at its publish
# step with strace; without root they cannot be installed here and those tests skip, saying so.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && \
	  command -v strace >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq chromium chromium-driver strace >/dev/null) || \
	  echo "warning: could not install chromium/strace; those tests will be skipped" >&2

test: setup browser
	$(PYTHON) -m pytest

rebuild: setup
	$(PYTHON) scripts/rebuild_index.py --docs $(DOCS) --index-dir $(INDEX)

# Serves the index and, with --watch, keeps it current: each change to $(DOCS) is indexed
# and served within seconds.
run: rebuild
	$(PYTHON) -m service --index-dir $(INDEX) --docs $(DOCS) $(WATCH)

# Benchmarks (not part of `make test`; about an hour on 2 cores): Markdown tables and JSON in
# var/bench/, summarised in docs/benchmarks.md. They need the SciFact index that
# scripts/evaluate.py keeps (built here if missing, ~15 min) and wrk for HTTP load.
SCIFACT_INDEX := var/eval/scifact
BENCH := var/bench

$(SCIFACT_INDEX)/index/CURRENT:
	$(PYTHON) scripts/evaluate.py ../shared/eval/scifact --index-dir $(SCIFACT_INDEX) --mode dense -q

bench: setup $(SCIFACT_INDEX)/index/CURRENT
	@command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
	mkdir -p $(BENCH)
	$(PYTHON) benchmarks/query_latency.py --scifact-index $(SCIFACT_INDEX)/index \
	  --markdown $(BENCH)/query_latency.md --json $(BENCH)/query_latency.json
	$(PYTHON) benchmarks/throughput.py --markdown $(BENCH)/throughput.md --json $(BENCH)/throughput.json
	$(PYTHON) benchmarks/indexing.py --json $(BENCH)/indexing.json > $(BENCH)/indexing.md
	$(PYTHON) benchmarks/incremental.py --json $(BENCH)/incremental.json > $(BENCH)/incremental.md
	$(PYTHON) benchmarks/scale.py --source $(SCIFACT_INDEX)/index \
	  --markdown $(BENCH)/scale.md --json $(BENCH)/scale.json
	$(PYTHON) benchmarks/load.py --markdown $(BENCH)/load.md --json $(BENCH)/load.json
	$(PYTHON) benchmarks/scaling.py --scifact-index $(SCIFACT_INDEX)/index \
	  --markdown $(BENCH)/scaling.md --json $(BENCH)/scaling.json
	$(PYTHON) benchmarks/answer_sentences.py --scifact-index $(SCIFACT_INDEX)/index \
	  --markdown $(BENCH)/answer_sentences.md --json $(BENCH)/answer_sentences.json
	$(PYTHON) benchmarks/observability.py --rounds 60 --requests 200 \
	  --markdown $(BENCH)/observability.md --json $(BENCH)/observability.json
	$(PYTHON) benchmarks/access.py --markdown $(BENCH)/access.md --json $(BENCH)/access.json
	$(PYTHON) benchmarks/filters.py --markdown $(BENCH)/filters.md --json $(BENCH)/filters.json

lint: setup
	$(VENV)/bin/ruff check index service scripts tests
	$(VENV)/bin/mypy

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
