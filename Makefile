# djtop: `make demo` runs the demo, `make test` runs every test. Both start from nothing but the
# repository: they create the virtualenvs, install what is missing and build the binary.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
DJTOP := target/release/djtop
DEMO := examples/demo
PORT ?= 8000

.PHONY: demo test test-rust test-python test-matrix test-django-next test-django-suite lint build install venv bench clean system-deps databases

# The EXPLAIN tests use PostgreSQL and MariaDB through psycopg and mysqlclient, which builds
# against libmariadb (scripts/databases.sh installs libmariadb-dev and pkg-config when missing).
venv: $(VENV)/.ready
$(VENV)/.ready: Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@bash scripts/databases.sh client-deps
	$(PIP) install "Django>=5.2,<5.3" "uvicorn>=0.30" "pytest>=8" "maturin>=1.5,<2" "ruff>=0.6" "psycopg[binary]>=3.1" "mysqlclient>=2.2" "djangorestframework"
	@touch $@

# Start PostgreSQL and MariaDB when installed but not running; the EXPLAIN tests (Rust and
# Python) fail, saying how to start it, when one is not there.
databases:
	@bash scripts/databases.sh start

build:
	cargo build --release --locked

# The real package: maturin builds the wheel (binary + shim) from the same target/ cache, and
# pip installs it into the venv, as a user's `pip install .` would.
install: venv build
	rm -rf target/wheels
	$(VENV)/bin/maturin build --release --locked -q -o target/wheels
	$(PIP) install --force-reinstall --no-deps target/wheels/djtop-*.whl

demo: install
	cd $(DEMO) && ../../$(PY) manage.py migrate -v0 && ../../$(PY) manage.py seed_demo
	@bash scripts/demo.sh $(PORT)

# Command-line tools the tests drive for real (tmux for the TUI smoke test, the sqlite3 and
# psql clients for the yank test); installed from Debian's packages when missing.
system-deps:
	@missing=""; \
	command -v tmux >/dev/null || missing="$$missing tmux"; \
	command -v sqlite3 >/dev/null || missing="$$missing sqlite3"; \
	command -v psql >/dev/null || missing="$$missing postgresql-client"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && apt-get install -y -qq $$missing; \
	fi

test: system-deps install lint databases test-rust test-python test-matrix test-django-suite
	@echo "make test: all suites passed"

test-rust: venv databases
	cargo test --release --locked

test-python: install databases
	DJTOP_BIN=$(CURDIR)/$(DJTOP) $(PY) -m pytest -q tests/python
	cd $(DEMO) && ../../$(PY) manage.py test blog -v1

# Django 6.0, 6.1 and 4.2 run with whichever Pythons this machine has; what is skipped is said.
test-matrix: build
	@bash scripts/matrix.sh

# Django's own ORM test modules (from the sdist of the installed Django) with and without the
# shim: any test whose outcome differs fails (scripts/django_suite.py). On 5.2 (.venv) and on 6.1
# (the matrix's .venv-dj61, when this machine has a Python for it).
test-django-suite: install
	$(PY) scripts/django_suite.py
	@if [ -x .venv-dj61/bin/python ]; then .venv-dj61/bin/python scripts/django_suite.py; \
	else echo "SKIPPED: django-suite on Django 6.1: no .venv-dj61 (no Python 3.12/3.13 here)"; fi

# Not part of `make test`: the suites on the newest Django on PyPI, pre-releases included.
test-django-next: build databases
	@bash scripts/matrix.sh next

lint: venv
	cargo fmt --all -- --check
	cargo clippy --release --locked --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests/python examples scripts
	$(VENV)/bin/ruff format --check python tests/python examples scripts

bench: install
	@bash scripts/bench.sh

clean:
	rm -rf target $(VENV) .venv-dj* $(DEMO)/var
