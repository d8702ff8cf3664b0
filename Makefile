# unipay — the two set-up commands of the README are `make demo` and `make test`.
# Both depend on `make install` (venv, pinned dependencies, the Rust engine, Debian packages);
# a second `make install` does nothing: every step leaves a stamp file in .venv/.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEBIAN_PACKAGES := postgresql openssh-server chromium redis-server
RUST_SOURCES := $(shell find calc_ext -path calc_ext/target -prune -o \( -name '*.rs' -o -name 'Cargo.toml' -o -name 'Cargo.lock' -o -name '*.py' -o -name '*.pyi' -o -name 'pyproject.toml' \) -print 2>/dev/null)
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: install demo test test-all lint bench clean city-1m cluster-demo

install: $(VENV)/.debian $(VENV)/.deps $(VENV)/.engine $(VENV)/.unipay

$(VENV)/.debian: scripts/ensure_debian_packages.sh
	@mkdir -p $(VENV)
	scripts/ensure_debian_packages.sh $(DEBIAN_PACKAGES)
	@touch $@

$(VENV)/.deps: constraints.txt requirements.in
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -r requirements.in
	$(BIN)/python -m pip check
	@touch $@

$(VENV)/.engine: $(VENV)/.deps $(RUST_SOURCES)
	scripts/check_rust.sh
	rm -rf var/wheels
	$(BIN)/maturin build --release -m calc_ext/Cargo.toml -o var/wheels -i $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check --force-reinstall --no-deps var/wheels/unipay_calc-*.whl
	@touch $@

$(VENV)/.unipay: $(VENV)/.deps pyproject.toml
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

demo: install
	$(BIN)/unipay demo --accounts 10000 --seed 1

test: install
	cd calc_ext && cargo test -q -p unipay-core
	$(BIN)/python -m ruff check .
	$(BIN)/python -m pytest -q -m "not slow"

test-all: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy hub connectors
	cd calc_ext && cargo fmt --check && cargo clippy --all-targets -- -D warnings

# Engine benchmarks (table + benchmarks/results.json); `--quick` for small sizes.
bench: install
	$(BIN)/python -m benchmarks

# A real multi-process Airflow deployment on this machine (PostgreSQL metadata, Redis broker,
# api-server, scheduler, dag-processor, two Celery workers) billing a small city; stops what it starts.
cluster-demo: install
	$(BIN)/python scripts/cluster_demo.py --accounts 2000

# One million accounts into var/city-1m.db, timed (the figure the README quotes).
city-1m: install
	rm -f var/city-1m.db*
	UNIPAY_DB_URL=sqlite:///$(CURDIR)/var/city-1m.db $(BIN)/unipay generate --accounts 1000000 --seed 1

clean:
	rm -rf $(VENV) var calc_ext/target
