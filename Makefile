# Short verbs for people and CI. Each target installs what it needs into .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOOLS := .venv-tools
# sam build needs the Lambda runtime's Python (3.13) on PATH; pyenv provides it here.
SAM_PYENV ?= $(shell pyenv versions --bare 2>/dev/null | grep -E '^3\.13' | head -n1)
SAM_ENV := $(if $(SAM_PYENV),PYENV_VERSION=$(shell pyenv version-name 2>/dev/null):$(SAM_PYENV),)

.PHONY: help install demo test test-fast lint typecheck imports template bench clean

help:
	@echo "make demo      run the whole pipeline locally on emulators (no AWS account)"
	@echo "make test      run the test suite"
	@echo "make lint      ruff, mypy and the layering contract"
	@echo "make template  sam validate --lint and sam build"
	@echo "make bench     benchmarks that print figures"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/connect-user-sync demo $(if $(SOURCE),--source $(SOURCE),)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src functions emulators
	$(BIN)/mypy
	$(BIN)/lint-imports

$(TOOLS)/.installed:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --upgrade pip
	$(TOOLS)/bin/pip install --quiet aws-sam-cli cfn-lint
	touch $@

template: $(TOOLS)/.installed
	$(TOOLS)/bin/sam validate --lint --region us-east-1
	$(SAM_ENV) PATH="$(CURDIR)/$(TOOLS)/bin:$$PATH" $(TOOLS)/bin/sam build --region us-east-1

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .pytest_cache .mypy_cache .ruff_cache
