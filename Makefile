# Two commands on a fresh machine: `make run` and `make test`. `make` alone lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
PYTEST_ARGS ?=
# The suite mostly waits on servers and workers, so it runs in parallel processes
# (pytest-xdist), each with servers of its own; a module stays in one process.
TEST_PROCESSES ?= 3
QUICK ?=

COMPOSE ?= docker compose
COMPOSE_TEST := $(COMPOSE) -f compose.yaml -f compose.test.yaml

.PHONY: help install run test bench lint format lock migrate shell worker clean \
        up down logs ps compose-test internal-secrets

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/uv:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: $(BIN)/uv uv.lock pyproject.toml services/tasks/pyproject.toml services/web/pyproject.toml
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --frozen --all-packages --python $(BIN)/python
	@touch $@

.env:
	cp .env.example .env
	@echo "created .env from .env.example (development settings)"

install: $(VENV)/.installed .env ## Create .venv with the locked dependencies, and .env if missing

run: install ## Run the whole stack natively: Postgres, Redis, migrations, web, worker, Flower
	$(BIN)/python -m devstack

test: install ## Run the test suite against real Postgres, Redis and Celery workers
	@$(BIN)/pytest --numprocesses $(TEST_PROCESSES) --dist loadfile $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests; that is a failure here" >&2; fi; \
	exit $$status

# The job queues the bench compares the stack with (pyproject.toml's `bench` group) are
# added to .venv here alone, without removing anything (--inexact); a later `make install`
# that syncs again removes them, and the next `make bench` adds them back.
bench: install ## Benchmarks against baselines of the same run (QUICK=1: seconds, small counts)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --frozen --all-packages --group bench --inexact --python $(BIN)/python --quiet
	QUICK=$(QUICK) $(BIN)/python -m bench

lint: install ## ruff, hadolint and the compose specification
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint --config .hadolint.yaml Dockerfile
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec compose.yaml compose.test.yaml

format: install ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lock: $(BIN)/uv ## Re-resolve uv.lock after changing dependencies
	$(BIN)/uv lock

migrate: install ## Apply migrations to DATABASE_URL (the release step)
	PATH=$(CURDIR)/$(BIN):$$PATH services/web/release

shell: install ## flask shell with the app loaded
	$(BIN)/flask shell

worker: install ## A Celery worker in the foreground (as the tutorial starts it)
	$(BIN)/celery -A tasks.celery worker --loglevel=INFO

# A secret no person needs to know (the password web and workers give PostgreSQL) is made
# here when .env lacks it; the others (SECRET_KEY, POSTGRES_PASSWORD, ...) are yours to set.
internal-secrets: .env
	@grep -q '^POSTGRES_APP_PASSWORD=.' .env || { \
	    echo "POSTGRES_APP_PASSWORD=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(24))')" >> .env; \
	    echo "added a random POSTGRES_APP_PASSWORD to .env"; }

up: internal-secrets ## Build and start the stack in containers (needs Docker)
	$(COMPOSE) up --build --detach
	@echo "API    http://$$($(COMPOSE) port web 8000 | sed 's/^0\.0\.0\.0:/localhost:/')"
	@echo "Flower http://$$($(COMPOSE) port flower 5555 | sed 's/^0\.0\.0\.0:/localhost:/')"

down: ## Stop the containers (volumes stay; `docker compose down -v` drops them)
	$(COMPOSE) down

logs: ## Follow the containers' logs
	$(COMPOSE) logs --follow --tail=100

ps: ## The containers and their health
	$(COMPOSE) ps

compose-test: internal-secrets ## Run the test suite in a container against compose's Postgres and Redis
	$(COMPOSE_TEST) run --rm --build test

clean: ## Remove .venv and caches (keeps .devdata, the local database)
	rm -rf $(VENV) .pytest_cache .ruff_cache
