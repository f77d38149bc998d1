# `make run` and `make test` set everything up on a fresh machine.
VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
INDEX  ?= var/index

.PHONY: setup browser test run rebuild lint clean

setup: $(STAMP)

# torch comes first and pinned: this machine has a local CPU wheel of 2.13.0, while an
# unpinned torch (pulled in by sentence-transformers) would download a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# The browser test drives Debian's Chromium; without root it cannot be installed here and
# that test skips, saying so.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) || \
	  echo "warning: could not install chromium; the browser test will be skipped" >&2

test: setup browser
	$(PYTHON) -m pytest

rebuild: setup
	$(PYTHON) scripts/rebuild_index.py --docs corpus --index-dir $(INDEX)

run: rebuild
	$(PYTHON) -m service --index-dir $(INDEX)

lint: setup
	$(VENV)/bin/ruff check index service scripts tests
	$(VENV)/bin/mypy

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
