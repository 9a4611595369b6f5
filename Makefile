# Every target runs inside .venv: rebuilt whenever the pinned requirements change; the service's own
# package is reinstalled alone (editable, seconds) when setup.py changes, as after `make rename`.
APP := myservice
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# PORT has no default here: `make run` defaults it to 5000, `make serve` to 8000.
# `make serve` runs SERVE_$(SERVER); another server is one more SERVE_<name> line.
SERVER ?= hypercorn
SERVE_hypercorn = $(BIN)/python -m $(APP).supervisor '$(APP):create_app()'
SERVE_uvicorn = $(BIN)/python -m $(APP).fastlane '$(APP):create_app()'
PYTEST_ARGS ?=
PYTEST_FLAGS = $(if $(SLOW),,-m "not slow") $(PYTEST_ARGS)
# CI (CI=true) runs the slow end-to-end tests (real servers, renamed copies, fuzzing) and measures
# coverage; locally SLOW=1 and COVERAGE=1 do, and without them `make test` gives its answer in seconds.
SLOW ?= $(CI)
COVERAGE ?= $(CI)
# The operator's values reach the recipes through the environment ("$$NAME"), never through the
# shell's reading of the recipe, and are taken as written, not as make syntax ($(shell ...) stays
# text): no value can run a command.
OPERATOR_VALUES := NAME SOURCE REF DRY_RUN SERVER PORT WORKERS QUART_SETTINGS MSG SCOPES SUBJECT
$(foreach var,$(OPERATOR_VALUES),$(if $(filter command line environment,$(origin $(var))),\
	$(eval override $(var) := $$(value $(var)))$(eval export $(var))))

.DEFAULT_GOAL := help
.PHONY: help install run serve test lint format requirements clean rename blueprint resource update-template bench token \
	db-upgrade db-downgrade db-revision

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Pins for every supported Python (uv resolves universally, adding markers where versions differ).
COMPILE = $(BIN)/uv pip compile --quiet --universal --no-annotate --python-version 3.11 $(if $(UPGRADE),--upgrade)

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# The stamp holds the package's name: a renamed package replaces the old one.
$(BIN)/.package: setup.py $(BIN)/.installed
	@old=$$(cat $@ 2>/dev/null || true); \
	if [ -n "$$old" ] && [ "$$old" != $(APP) ]; then $(BIN)/pip uninstall --quiet -y "$$old"; fi
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	echo $(APP) > $@

install: $(BIN)/.package ## Create .venv and install the service with its pinned dependencies

run: install ## Development server on PORT (default 5000), its database migrated first; debug mode follows the settings' DEBUG
	@debug=$$(QUART_APP=$(APP) $(BIN)/quart settings DEBUG) || exit 1; \
	$(BIN)/alembic upgrade head || echo "make run: the database is not migrated (see above); serving anyway"; \
	QUART_APP=$(APP) QUART_DEBUG=$$debug exec $(BIN)/quart run --port "$${PORT:-5000}"

serve: install ## Production server (Hypercorn; SERVER=uvicorn for the fast lane) on PORT (default 8000) with WORKERS (default: CPUs), settings.prod.yml
	$(if $(SERVE_$(SERVER)),,$(error SERVER=$(SERVER) is unknown; expected hypercorn or uvicorn))
	QUART_SETTINGS="$${QUART_SETTINGS:-settings.prod.yml}" PORT="$${PORT:-8000}" exec $(SERVE_$(SERVER))

test: install ## The service's fast tests, then the tooling's; SLOW=1 adds the end-to-end ones, COVERAGE=1 coverage (each suite fails under 90 %); CI does both
	$(BIN)/pytest $(APP)/tests $(if $(COVERAGE),--cov=$(APP)) $(PYTEST_FLAGS)
	$(BIN)/pytest scripts/tests bench/tests $(if $(COVERAGE),--cov=scripts --cov=bench) $(PYTEST_FLAGS)

lint: install ## ruff check, ruff format --check, mypy --strict; hadolint, Kubernetes, compose and workflow schemas
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile
	$(BIN)/kubernetes-validate --strict --quiet deploy/k8s/*.yaml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec compose.yaml

# Migrations of the database at DATABASE_URL (the settings file, then MYSERVICE_DATABASE_URL); see docs/database.md.
db-upgrade: install ## Migrate the database (DATABASE_URL) to the latest revision
	$(BIN)/alembic upgrade head

db-downgrade: install ## Undo the database's latest migration
	$(BIN)/alembic downgrade -1

db-revision: install ## New migration from the models' changes (the database is upgraded first): make db-revision MSG="add orders"
	$(if $(MSG),,$(error MSG is empty; say what the migration does: make db-revision MSG="add orders"))
	$(BIN)/alembic upgrade head
	$(BIN)/alembic revision --autogenerate -m "$$MSG"

bench: install ## Requests/s, latency and cold start of the service vs a bare Quart app, and a PostgreSQL read [ROUNDS= DURATION= WORKERS= SERVERS= INSTRUCTIONS=1]
	$(BIN)/python -m bench.bench

requirements: install ## Re-pin requirements*.txt from the ranges in setup.py and requirements-dev.in [UPGRADE=1: newest allowed]
	$(COMPILE) setup.py -o requirements.txt && $(COMPILE) requirements-dev.in -o requirements-dev.txt

format: install ## Rewrite the code in the house style
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## Remove .venv, caches and build files
	rm -rf $(VENV) .coverage .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

rename: install ## Rename the service: make rename NAME=<name> [DRY_RUN=1 only prints what would change]
	$(BIN)/python -m scripts.rename "$$NAME" $(if $(DRY_RUN),--dry-run)

blueprint: install ## New blueprint with its tests: make blueprint NAME=<name> serves /<name>
	$(BIN)/python -m scripts.blueprint "$$NAME"

resource: install ## New persisted resource: model, migration, blueprint (create, list, read, change, delete), tests: make resource NAME=<name>
	$(BIN)/python -m scripts.resource "$$NAME"

token: install ## A development token signed by the local key (settings.yml trusts it): make token SCOPES="orders:read orders:write" [SUBJECT=<name>]
	@$(BIN)/python -m scripts.token

update-template: install ## Merge template changes into this renamed service [SOURCE=<url or path>] [REF=<branch>] [DRY_RUN=1]
	$(BIN)/python -m scripts.update_template $(if $(SOURCE),--source "$$SOURCE") $(if $(REF),--ref "$$REF") $(if $(DRY_RUN),--dry-run)
