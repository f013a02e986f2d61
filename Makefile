# The two commands: `make demo` (the whole story on a local SQLite registry)
# and `make test` (lint, types, workflow checks, tests). Both bootstrap uv
# into .tools/ when it is not on PATH, so a machine needs only python3, git, make.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --frozen
# An MLflow 2.x server for tests/test_old_server.py, in a venv of its own (2.22 needs
# SQLAlchemy < 2.1 beside it). The stamp names the version, so a bump rebuilds it.
OLD_MLFLOW_VERSION := 2.22.5
OLD_MLFLOW := .venv-mlflow2/.mlflow-$(OLD_MLFLOW_VERSION)
# Debian's Chromium for the status page's browser test (tests/browser.py drives it with the
# playwright wheel; playwright's own browser download does not work on every machine). Fonts
# are named because recommends are skipped (they pull in a desktop's worth of packages).
CHROMIUM := /usr/bin/chromium
# Debian's MariaDB for tests/test_mysql.py (tests/mysql.py runs mariadbd as a plain process;
# the package's own service is never started).
MARIADB := /usr/sbin/mariadbd
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: help install old-mlflow browser mariadb demo test lint types workflows pytest bench bench-scale schema clean

help:
	@echo "make demo   - train, register, plan, apply, predict, promote, refuse a worse version,"
	@echo "              roll back during a freeze with --break-glass (local SQLite)"
	@echo "make test   - ruff, mypy, workflow lint and audit, pytest"
	@echo "make browser - Debian's chromium for the status page's browser test (apt; part of test)"
	@echo "make mariadb - Debian's mariadb-server for the MySQL tests (apt; part of test)"
	@echo "make bench  - plan/apply against naive loops on a local mlflow server; history; scale; page; serve"
	@echo "make bench-scale - 10,000 models: whole-process plan/apply beside the bare reads"

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Compile bytecode at install: uv compiles none by default, and where PYTHONDONTWRITEBYTECODE
# is set (many container images) Python then compiles mlflow's source again on every run
# (`import mlflow` 3.8 s instead of 1.6 s). Not UV_COMPILE_BYTECODE for `uv run` as well: that
# re-checks all 9,000 files on every run (0.5 s). The stamp has a name of its own so that a
# .venv synced before this is compiled once.
.venv/.synced-compiled: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode
	@touch $@

install: .venv/.synced-compiled

$(OLD_MLFLOW): | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .venv-mlflow2
	$(UV) pip install --quiet --python .venv-mlflow2/bin/python \
		'mlflow==$(OLD_MLFLOW_VERSION)' 'sqlalchemy<2.1'
	@touch $@

old-mlflow: $(OLD_MLFLOW)

# A file target: once the browser is there, `make` does not look at apt again.
$(CHROMIUM):
	$(APT) update -qq
	$(APT) install -y -qq --no-install-recommends chromium fonts-liberation fonts-dejavu-core \
		>/dev/null

browser: $(CHROMIUM)

$(MARIADB):
	$(APT) update -qq
	$(APT) install -y -qq --no-install-recommends mariadb-server >/dev/null

mariadb: $(MARIADB)

demo: install
	$(RUN) python examples/demo.py

test: lint types workflows pytest

lint: install
	$(RUN) ruff format --check .
	$(RUN) ruff check .

types: install
	$(RUN) mypy

workflows: install
	$(RUN) actionlint
	$(RUN) zizmor --offline --min-severity=low .github

pytest: install old-mlflow browser mariadb
	$(RUN) pytest -n 2 --dist loadgroup

bench: install
	$(RUN) python bench/bench_reconcile.py
	$(RUN) python bench/bench_history.py
	$(RUN) python bench/bench_scale.py
	$(RUN) python bench/bench_page.py
	$(RUN) python bench/bench_serve.py

# The seeded databases are cached in bench/.cache/ (a first run seeds for about a minute).
bench-scale: install
	$(RUN) python bench/bench_scale.py

schema: install
	$(RUN) aliasctl schema > aliases.schema.json

clean:
	rm -rf .venv .venv-mlflow2 .tools .mypy_cache .ruff_cache .pytest_cache mlflow.db mlruns \
		.demo bench/.cache test-artifacts
