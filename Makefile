# Every target runs inside .venv, which is (re)built whenever the requirements change.
APP := myservice
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# PORT has no default here: `make run` defaults it to 5000, `make serve` to 8000.
# `make serve` runs SERVE_$(SERVER); another server is one more SERVE_<name> line.
SERVER ?= hypercorn
SERVE_hypercorn = $(BIN)/hypercorn --config python:$(APP).serving '$(APP):create_app()'
SERVE_uvicorn = $(BIN)/python -m $(APP).fastlane '$(APP):create_app()'
PYTEST_ARGS ?=
# CI (CI=true) runs the slow end-to-end tests (real servers, renamed copies, fuzzing) and measures
# coverage; locally SLOW=1 and COVERAGE=1 do, and without them `make test` gives its answer in seconds.
SLOW ?= $(CI)
COVERAGE ?= $(CI)
# rename and blueprint are stdlib only: the venv's python when there is one (it knows the installed packages).
SCRIPT_PYTHON = $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))

.DEFAULT_GOAL := help
.PHONY: help install run serve test lint format clean rename blueprint update-template bench

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/.installed: requirements.txt requirements-dev.txt setup.py
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e .
	touch $@

install: $(BIN)/.installed ## Create .venv and install the service with its pinned dependencies

run: install ## Development server on PORT (default 5000); debug mode follows the settings' DEBUG
	@debug=$$(QUART_APP=$(APP) $(BIN)/quart settings DEBUG) || exit 1; \
	QUART_APP=$(APP) QUART_DEBUG=$$debug exec $(BIN)/quart run --port $(or $(PORT),5000)

serve: install ## Production server (Hypercorn; SERVER=uvicorn for the fast lane) on PORT (default 8000) with WORKERS (default: CPUs), settings.prod.yml
	$(if $(SERVE_$(SERVER)),,$(error SERVER=$(SERVER) is unknown; expected hypercorn or uvicorn))
	QUART_SETTINGS=$(or $(QUART_SETTINGS),settings.prod.yml) PORT=$(or $(PORT),8000) exec $(SERVE_$(SERVER))

test: install ## Fast tests; SLOW=1 adds the end-to-end ones, COVERAGE=1 coverage (fails under 90 %); CI does both
	$(BIN)/pytest $(if $(COVERAGE),--cov --cov-report=term-missing) $(if $(SLOW),,-m "not slow") $(PYTEST_ARGS)

lint: install ## ruff check, ruff format --check, mypy --strict; hadolint, Kubernetes and workflow schemas
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile
	$(BIN)/kubernetes-validate --strict --quiet deploy/k8s/*.yaml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

bench: install ## Requests/s, latency and cold start of the service vs a bare Quart app [ROUNDS= DURATION= WORKERS= SERVERS= INSTRUCTIONS=1]
	$(BIN)/python -m bench.bench

format: install ## Rewrite the code in the house style
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## Remove .venv, caches and build files
	rm -rf $(VENV) .coverage .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

rename: ## Rename the service: make rename NAME=billing [DRY_RUN=1 only prints what would change]
	$(SCRIPT_PYTHON) -m scripts.rename "$(NAME)" $(if $(DRY_RUN),--dry-run)

blueprint: ## New blueprint with its test: make blueprint NAME=orders -> /orders
	$(SCRIPT_PYTHON) -m scripts.blueprint "$(NAME)"

update-template: ## Merge template changes into this renamed service [SOURCE=<url or path>] [REF=<branch>] [DRY_RUN=1]
	$(SCRIPT_PYTHON) -m scripts.update_template $(if $(SOURCE),--source "$(SOURCE)") $(if $(REF),--ref "$(REF)") $(if $(DRY_RUN),--dry-run)
