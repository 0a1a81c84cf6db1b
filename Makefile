# The README's commands. `make run` serves the app with demo data; `make test` runs the whole suite
# against real PostgreSQL, S3 (LocalStack) and Stripe (localstripe) servers that it starts and stops.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run run-stack test lint format install system-deps services-install messages bench clean

$(STAMP): requirements/base.txt requirements/dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	touch $(STAMP)

install: $(STAMP)

system-deps:
	scripts/install-system-deps.sh

services-install:
	scripts/install-system-deps.sh --test
	bash harness/install.sh

messages: install system-deps
	$(BIN)/python manage.py compilemessages -l ko --ignore='.venv*' -v0

run: install system-deps messages
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py seed_demo
	@echo "Serving on http://$(HOST):$(PORT)/  admin: /admin/  API docs: /api/docs/  health: /healthz"
	@$(BIN)/python manage.py shell -v 0 -c "from django.conf import settings as s; b = s.EMAIL_BACKEND; print('Emails:', s.EMAIL_FILE_PATH + '/ (one .log per message)' if 'filebased' in b else f'SMTP {s.EMAIL_HOST}:{s.EMAIL_PORT}' if 'smtp' in b else b)"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# `make run` plus redis-server, one Celery worker and beat (scripts/run-stack; logs under .stack/logs/).
run-stack: install system-deps messages
	scripts/install-system-deps.sh --stack
	HOST=$(HOST) PORT=$(PORT) scripts/run-stack

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_SETTINGS_MODULE=billing_site.settings.test $(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/mypy
	$(BIN)/lint-imports
	scripts/check-openapi

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install services-install messages lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install services-install
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .venv-localstack .venv-localstripe .pgdata db.sqlite3 media staticfiles .pytest_cache
