# Short verbs for people and CI. Each target installs what it needs into .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOOLS := .venv-tools
# sam build needs the Lambda runtime's Python (3.13) on PATH; pyenv provides it here.
SAM_PYENV ?= $(shell pyenv versions --bare 2>/dev/null | grep -E '^3\.13' | head -n1)
SAM_ENV := $(if $(SAM_PYENV),PYENV_VERSION=$(shell pyenv version-name 2>/dev/null):$(SAM_PYENV),)
# The Lambda runtime's interpreter, for timing the handler's cold import (make build).
PY313 ?= $(if $(SAM_PYENV),$(shell pyenv prefix $(SAM_PYENV) 2>/dev/null)/bin/python3.13,$(shell command -v python3.13))
CHECKOV := .venv-checkov
DEV_LOCK := requirements/dev.lock
LAYER_LOCK := layers/shared/requirements.lock
UV_COMPILE = $(TOOLS)/bin/uv pip compile --quiet --generate-hashes --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade,)

.PHONY: help install demo sandbox test test-fast lint typecheck imports template build lock audit scan bench clean

help:
	@echo "make demo      run the whole pipeline locally on emulators (no AWS account)"
	@echo "make sandbox   Connect and AWS emulated locally, to try your own export (Ctrl-C stops)"
	@echo "make test      run the test suite"
	@echo "make lint      ruff, mypy, the layering contract, the state machine definition"
	@echo "make template  sam validate --lint (both templates) and sam build"
	@echo "make build     make template, then the layer's size and cold import time against budgets"
	@echo "make scan      cfn-lint, checkov (template and SAM-transformed template), bandit"
	@echo "make audit     pip-audit on every lock file"
	@echo "make lock      regenerate the lock files (UPGRADE=1 to take the newest versions)"
	@echo "make bench     benchmarks that print figures"

# Installs exactly the pinned, hashed set of requirements/dev.lock, then the project itself.
# A lock lists every transitive dependency, so pip installs it as is (--no-deps); `pip
# check` then catches a dependency added to pyproject.toml without `make lock`.
$(STAMP): pyproject.toml $(DEV_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r $(DEV_LOCK)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	@$(BIN)/pip check >/dev/null || { $(BIN)/pip check; \
		echo "$(DEV_LOCK) does not satisfy pyproject.toml: run make lock"; exit 1; }
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/connect-user-sync demo $(if $(SOURCE),--source $(SOURCE),)

# SANDBOX_ARGS passes options, e.g. SANDBOX_ARGS="--dir ./try --export ~/hr.csv".
sandbox: $(STAMP)
	$(BIN)/python -m connect_user_sync_emulators.sandbox $(SANDBOX_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src functions emulators
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/validate_asl.py template.yaml

$(TOOLS)/.installed: requirements/tools.lock
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements/tools.lock
	$(TOOLS)/bin/pip check
	touch $@

# checkov pins boto3 and cfn-lint far below aws-sam-cli's, so it gets a venv of its own.
$(CHECKOV)/.installed: requirements/checkov.lock
	$(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements/checkov.lock
	$(CHECKOV)/bin/pip check
	touch $@

# Regenerate every lock file from its inputs (keeps current pins; UPGRADE=1 takes the newest).
lock: $(TOOLS)/.installed
	$(UV_COMPILE) --python-version 3.13 --python-platform aarch64-manylinux2014 \
		--no-emit-package setuptools layers/shared/requirements.in -o $(LAYER_LOCK)
	$(UV_COMPILE) --universal --python-version 3.11 --all-extras pyproject.toml -o $(DEV_LOCK)
	$(UV_COMPILE) --universal --python-version 3.11 requirements/tools.in -o requirements/tools.lock
	$(UV_COMPILE) --universal --python-version 3.11 requirements/checkov.in -o requirements/checkov.lock

# pip-audit --strict on every lock file; an unreachable vulnerability database is one line
# of output, not a failure (a real finding always fails).
audit: $(TOOLS)/.installed
	$(TOOLS)/bin/python scripts/audit.py $(LAYER_LOCK) $(DEV_LOCK) requirements/tools.lock requirements/checkov.lock

# cfn-lint; checkov on template.yaml and on the SAM-transformed template with its
# conditions resolved (so the IAM checks see the function's role); bandit on the code.
scan: $(TOOLS)/.installed $(CHECKOV)/.installed
	$(TOOLS)/bin/cfn-lint template.yaml templates/target-account-role.yaml
	$(TOOLS)/bin/python scripts/transformed_template.py template.yaml -o build/scan/transformed.json
	$(CHECKOV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml
	$(CHECKOV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f build/scan/transformed.json
	$(TOOLS)/bin/python scripts/transformed_template.py templates/target-account-role.yaml -o build/scan/target-account-role.json
	$(CHECKOV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f build/scan/target-account-role.json
	$(TOOLS)/bin/bandit --quiet --configfile pyproject.toml --recursive src functions

template: $(TOOLS)/.installed
	$(TOOLS)/bin/sam validate --lint --region us-east-1
	$(TOOLS)/bin/sam validate --lint --region us-east-1 -t templates/target-account-role.yaml
	$(SAM_ENV) PATH="$(CURDIR)/$(TOOLS)/bin:$$PATH" $(TOOLS)/bin/sam build --region us-east-1

# The template, built; then the layer's unzipped size and the handler's cold import time,
# each against its budget (scripts/build_report.py states them).
build: template
	$(TOOLS)/bin/python scripts/build_report.py --python "$(PY313)"

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(TOOLS) $(CHECKOV) .aws-sam build .pytest_cache .mypy_cache .ruff_cache
