# The two commands: `make run` and `make test`. Both create .venv and install everything.
# The first Python 3.11+ that actually runs (pyenv shims can exist for versions that are not installed).
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PLUGINS := plugins/graph plugins/instagram plugins/facebook plugins/gemini plugins/webhooks plugins/threads plugins/bluesky plugins/linkedin plugins/mastodon plugins/mcp
# The core's tests and each plugin's (plugins/<name>/tests; plugins/mastodon is also docs/plugins.md's tutorial).
TEST_PATHS := tests plugins
PG_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
CHROMIUM := /usr/bin/chromium
# pytest-xdist processes for make test (each takes its own Redis database below 15)
TEST_WORKERS ?= 2

.PHONY: run test install browser lint bench clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Herald needs Python 3.11 or newer: install it (e.g. apt-get install python3) and retry."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python setup.cfg $(addsuffix /setup.cfg,$(PLUGINS))
	$(BIN)/python -m pip install --quiet -e ".[test]" $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/herald init-db
	$(BIN)/herald demo
	$(BIN)/herald run

# The portal's browser tests drive Debian's Chromium: install it when it is missing and we can.
browser:
	@test -x $(CHROMIUM) || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "NOTE: $(CHROMIUM) is missing and only root can apt-get install chromium: browser tests will be skipped."; fi; }

test: install browser
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) $(TEST_PATHS)
	@if $(BIN)/python -c "import psycopg2,sys; psycopg2.connect('$(PG_URL)', connect_timeout=3)" 2>/dev/null; then \
		echo "== the suite again on PostgreSQL ($(PG_URL)) =="; \
		HERALD_TEST_POSTGRES=$(PG_URL) $(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) $(TEST_PATHS); \
	else \
		echo "WARNING: no PostgreSQL answers at $(PG_URL); the PostgreSQL run was skipped."; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: install
	$(BIN)/python bench/action_throughput.py
	$(BIN)/python bench/action_breakdown.py
	$(BIN)/python bench/publish_pipeline.py
	$(BIN)/python bench/webhook_fanout.py
	$(BIN)/python bench/webhook_latency.py

clean:
	rm -rf $(VENV) var
