# pace-linkage: two commands set everything up on a fresh machine (Python 3.11+ and make):
#   make demo   - create .venv if needed, generate synthetic data, run the Prefect pipeline, write the report
#   make test   - create .venv if needed, run the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export DO_NOT_TRACK := 1
# Bytecode: packages are compiled at install time (uv does not by default) and Python may cache the project's
# own modules; without that every process compiles prefect, pandas ... from source again (about 10 s each).
unexport PYTHONDONTWRITEBYTECODE
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: demo test test-all bench bench-install bench-reference lint lock clean browser postgres

$(STAMP): pyproject.toml requirements.lock Makefile
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@($(PY) -m pip install -q --disable-pip-version-check uv==0.13.8 2>/dev/null && \
	   $(VENV)/bin/uv pip install -q --python $(PY) --compile-bytecode -r requirements.lock && \
	   $(VENV)/bin/uv pip install -q --python $(PY) --no-deps -e .) || \
	 ($(PY) -m pip install -q --disable-pip-version-check -r requirements.lock && \
	  $(PY) -m pip install -q --disable-pip-version-check --no-deps -e .)
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/pace-linkage demo --out out

test: $(STAMP) browser postgres
	$(PY) -m pytest -q

# The report's browser test drives Debian's chromium (Playwright's own browser download is unreachable).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 || \
	      echo "note: could not install chromium; the browser test will be skipped"; \
	  else echo "note: chromium is missing and we are not root; the browser test will be skipped"; fi; }

# The central store's PostgreSQL tests start a throwaway server on 127.0.0.1 (tests/pg.py) from Debian's binaries.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null 2>&1 || \
	      echo "note: could not install postgresql; the PostgreSQL store tests will be skipped"; \
	  else echo "note: PostgreSQL is missing and we are not root; the PostgreSQL store tests will be skipped"; fi; }

test-all: $(STAMP)
	$(PY) -m pytest -q -m "slow or not slow"

bench: $(STAMP)
	$(PY) -m benchmarks

# Splink 5 for the reference benchmark: the `bench` extra, pinned (resolves with the main lock: same duckdb/pyarrow)
bench-install: $(STAMP)
	@$(VENV)/bin/uv pip install -q --python $(PY) --compile-bytecode -r benchmarks/requirements-bench.txt 2>/dev/null || \
	  $(PY) -m pip install -q --disable-pip-version-check -r benchmarks/requirements-bench.txt

# pace-linkage vs recordlinkage ECM vs Splink at 10k/100k/1M synthetic records and FEBRL 1-4 (about an hour);
# writes benchmarks/results/reference.{md,json,svg}. Pass e.g. ARGS="--datasets 10k,febrl3" for a subset.
bench-reference: bench-install
	$(PY) -m benchmarks reference $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

lock:
	$(VENV)/bin/uv pip compile pyproject.toml --extra test --extra dev --extra dask --python-version 3.11 \
	  --no-header --no-annotate -q -o requirements.lock

clean:
	rm -rf $(VENV) out .pytest_cache
