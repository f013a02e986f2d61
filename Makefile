# The two commands: `make demo` (the whole story on a local SQLite registry)
# and `make test` (lint, types, workflow checks, the docs site, tests). Both bootstrap uv
# into .tools/ when it is not on PATH, so a machine needs only python3, git, make.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --frozen
# Older MLflow servers for the tests that take the old_mlflow_server fixture
# (tests/old_server.py), each in a venv of its own, .venv-mlflow-<version>. `make test` runs
# one before 2.21 (which reads the MLflow 3 client's prompt filter wrongly) and the last 2.x;
# `make test-servers` runs those tests against every version teams run (SageMaker's managed
# MLflow offers 2.13, 2.16 and 3.0).
OLD_MLFLOW_VERSIONS := 2.16.2 2.22.5
OLD_MLFLOW_ALL := 2.13.3 2.16.2 2.20.4 2.22.5 3.0.1
# What each needs beside it to install and start on Python 3.11 with today's PyPI: all of them
# import pool classes SQLAlchemy 2.1 removed; 2.13 imports pkg_resources, gone from setuptools 81.
MLFLOW_PINS_2.13.3 := sqlalchemy<2.1 setuptools<81
MLFLOW_PINS_2.16.2 := sqlalchemy<2.1
MLFLOW_PINS_2.20.4 := sqlalchemy<2.1
MLFLOW_PINS_2.22.5 := sqlalchemy<2.1
MLFLOW_PINS_3.0.1 := sqlalchemy<2.1
old_mlflow_venvs = $(foreach v,$(1),.venv-mlflow-$(v)/.stamp)
# Debian's Chromium for the status page's browser test (tests/browser.py drives it with the
# playwright wheel; playwright's own browser download does not work on every machine). Fonts
# are named because recommends are skipped (they pull in a desktop's worth of packages).
CHROMIUM := /usr/bin/chromium
# Debian's MariaDB for tests/test_mysql.py (tests/mysql.py runs mariadbd as a plain process;
# the package's own service is never started).
MARIADB := /usr/sbin/mariadbd
# Debian's Prometheus for the analysis tests (tests/support/prometheus.py runs it as a plain
# process with its own config and a temporary TSDB; the package's own service is never started).
PROMETHEUS := /usr/bin/prometheus
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: help install old-mlflow browser mariadb prometheus demo test test-servers lint types workflows docs pytest \
	bench bench-scale schema clean FORCE

help:
	@echo "make demo   - train, register, plan, apply, predict, promote, refuse a worse version,"
	@echo "              roll back during a freeze with --break-glass, analyse a promotion and"
	@echo "              roll it back and hold it (local SQLite)"
	@echo "make test   - ruff, import contracts, mypy, workflow lint and audit, the docs site"
	@echo "              (strict), pytest"
	@echo "make docs   - build the documentation site into site/ (mkdocs build --strict)"
	@echo "make test-servers - the old-server tests against every MLflow server version in OLD_MLFLOW_ALL"
	@echo "make browser - Debian's chromium for the status page's browser test (apt; part of test)"
	@echo "make mariadb - Debian's mariadb-server for the MySQL tests (apt; part of test)"
	@echo "make prometheus - Debian's prometheus for the analysis tests (apt; part of test)"
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

# One venv per server version, its bytecode compiled at install like .venv's (see above): a
# server then starts in seconds on its first run too, with PYTHONDONTWRITEBYTECODE set or not.
.venv-mlflow-%/.stamp: .venv-mlflow-%/.pins | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(@D)
	$(UV) pip install --quiet --compile-bytecode --python $(@D)/bin/python \
		'mlflow==$*' $(foreach pin,$(MLFLOW_PINS_$*),'$(pin)')
	@touch $@

# The requirements as a file, rewritten only when they change: a changed pin rebuilds the venv.
.venv-mlflow-%/.pins: FORCE
	@mkdir -p $(@D)
	@echo 'mlflow==$* $(MLFLOW_PINS_$*)' | cmp -s - $@ || echo 'mlflow==$* $(MLFLOW_PINS_$*)' > $@

.PRECIOUS: .venv-mlflow-%/.pins
FORCE:

old-mlflow: $(call old_mlflow_venvs,$(OLD_MLFLOW_VERSIONS))

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

# policy-rc.d (Debian's "may this service start?") refuses every start while apt runs: on a
# machine with systemd the package would otherwise start its service on :9090. One already
# there (container images ship one) is left as it is.
$(PROMETHEUS):
	$(APT) update -qq
	@if [ -e /usr/sbin/policy-rc.d ]; then \
		$(APT) install -y -qq --no-install-recommends prometheus >/dev/null; \
	else \
		printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null \
		&& $(SUDO) chmod +x /usr/sbin/policy-rc.d \
		&& $(APT) install -y -qq --no-install-recommends prometheus >/dev/null; \
		status=$$?; $(SUDO) rm -f /usr/sbin/policy-rc.d; exit $$status; \
	fi

prometheus: $(PROMETHEUS)

demo: install
	$(RUN) python examples/demo.py

test: lint types workflows docs pytest

lint: install
	$(RUN) ruff format --check .
	$(RUN) ruff check .
	$(RUN) lint-imports

types: install
	$(RUN) mypy

workflows: install
	$(RUN) actionlint
	$(RUN) zizmor --offline --min-severity=low .github

# The documentation site (mkdocs.yml): --strict fails on any warning, and mkdocs.yml makes a
# broken link or anchor one. Never --quiet: it drops the warnings before --strict counts them,
# and a broken link then passes. The command reference is generated from the click commands.
# NO_MKDOCS_2_WARNING silences Material's banner about its end of life (May 2027).
docs: install
	NO_MKDOCS_2_WARNING=1 $(RUN) mkdocs build --strict

pytest: install old-mlflow browser mariadb prometheus
	ALIASCTL_OLD_MLFLOW_VERSIONS='$(OLD_MLFLOW_VERSIONS)' $(RUN) pytest -n 2 --dist loadgroup

# Each version's server is started by one worker (xdist_group per version) and shared by its tests.
test-servers: install $(call old_mlflow_venvs,$(OLD_MLFLOW_ALL))
	ALIASCTL_OLD_MLFLOW_VERSIONS='$(OLD_MLFLOW_ALL)' $(RUN) pytest -n 2 --dist loadgroup -m old_mlflow

bench: install
	$(RUN) python bench/bench_reconcile.py
	$(RUN) python bench/bench_history.py
	$(RUN) python bench/bench_scale.py
	$(RUN) python bench/bench_page.py
	$(RUN) python bench/bench_serve.py
	$(RUN) python bench/bench_environments.py

# The seeded databases are cached in bench/.cache/ (a first run seeds for about a minute).
bench-scale: install
	$(RUN) python bench/bench_scale.py

schema: install
	$(RUN) aliasctl schema > aliases.schema.json

clean:
	rm -rf .venv .venv-mlflow* .tools .mypy_cache .ruff_cache .pytest_cache mlflow.db mlruns \
		.demo bench/.cache test-artifacts site
