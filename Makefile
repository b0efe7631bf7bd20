# gb: the two commands are `make run` (start a node) and `make test` (lint, types, the suite).
# Everything else here is a step they depend on; each step is skipped when its inputs are unchanged.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The first interpreter that really runs and is >= 3.11 (pyenv shims exist for versions not selected).
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { command -v $$p; break; }; done)

# Tools the venv's tools start by name (cython-lint runs pycodestyle) come from the venv too.
export PATH := $(abspath $(VENV))/bin:$(PATH)

ARGS ?=
BENCH_ARGS ?=
PYTEST_ARGS ?=

# The folders setup.py maps into the gb package (gb.core, gb.protocol, ...).
AREAS := core protocol client bots compiler
space := $() $()

NATIVE_PYX := $(wildcard core/_native/*.pyx)
NATIVE_SRC := $(NATIVE_PYX) $(wildcard core/_native/*.pxd)
# A .pyx whose extension module is missing forces a rebuild even when the stamp is newer.
NATIVE_MISSING := $(foreach p,$(NATIVE_PYX),$(if $(wildcard $(p:.pyx=).*.so),,$(p)))

# mypy cannot follow setup.py's package_dir mapping (the editable install is an import hook),
# so it checks the view of symlinks setup.py lays out as the installed package
# (build/pkg/gb/core -> core; pyproject's mypy_path points there).
TYPE_VIEW := build/pkg

.PHONY: help venv install native run services bootstrap test lint typecheck bench clean distclean FORCE

help:
	@echo 'make run    install, build the native modules and start a node (ARGS="--workers 2")'
	@echo 'make test   lint, type-check, start PostgreSQL/Redis if needed, run the suite with coverage'
	@echo 'other: venv install native services bootstrap lint typecheck bench clean distclean'

venv: $(PY)
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "error: $(VENV) runs Python $$($(PY) -V 2>&1); gb needs >= 3.11 (make distclean)" >&2; exit 1; }

$(PY):
	@if [ -z "$(PYTHON)" ]; then \
		echo 'error: gb needs Python >= 3.11 and none was found; set PYTHON=/path/to/python3.11' >&2; exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "error: $(PYTHON) is $$($(PYTHON) -V 2>&1); gb needs Python >= 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel

bootstrap:
	@scripts/bootstrap-system.sh build services

install: venv $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py | $(PY)
	@PYTHON=$(PY) scripts/bootstrap-system.sh build
	$(PIP) install -q -e '.[dev]'
	@touch $@

native: install $(VENV)/.native

$(VENV)/.native: $(VENV)/.installed $(NATIVE_SRC) $(if $(NATIVE_MISSING),FORCE)
	$(PY) setup.py -q build_ext --inplace
	@touch $@

run: native
	$(VENV)/bin/gb serve $(ARGS)

services:
	@scripts/ensure-services.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/cython-lint core/_native

typecheck: native
	@echo 'mypy -p gb  (gb and $(AREAS), through $(TYPE_VIEW))'
	@$(VENV)/bin/mypy -p gb \
		| sed -e 's#^$(TYPE_VIEW)/gb/\($(subst $(space),\|,$(AREAS))\)/#\1/#' -e 's#^$(TYPE_VIEW)/gb/#gb/#'
	@echo 'stubtest: the .pyi stubs of core/_native against the built extensions'
	@$(VENV)/bin/python -m mypy.stubtest --mypy-config-file pyproject.toml \
		--allowlist core/_native/stubtest-allowlist.txt \
		$(patsubst core/_native/%.pyx,gb.core._native.%,$(NATIVE_PYX))

test: lint typecheck native services
	@# Bare --cov: the sources are the area folders listed in pyproject.toml ([tool.coverage.run]).
	$(VENV)/bin/pytest --cov --cov-branch --cov-report=term --cov-report=xml -q $(PYTEST_ARGS)

bench: native
	@scripts/bootstrap-system.sh bench
	npm install --prefix bench/peers --no-audit --no-fund --loglevel=error
	$(PY) bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis .benchmarks htmlcov
	rm -f .coverage .coverage.* coverage.xml $(VENV)/.native
	rm -f core/_native/*.c core/_native/*.so core/_native/*.html
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) bench/peers/node_modules .gb-data .services

FORCE:
