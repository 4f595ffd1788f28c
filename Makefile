# The verbs a newcomer looks for. `make run` and `make test` install what they need first.
PY := .venv/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format bench services services-stop bootstrap migrate seed worker

bootstrap:
	@scripts/bootstrap

services: bootstrap
	@scripts/services start

services-stop:
	@scripts/services stop

migrate: services
	@$(PY) manage.py migrate --noinput -v 0

seed: migrate
	@$(PY) manage.py seed_demo --if-empty

# The web server and, beside it, one Celery worker for the routing jobs (optimize-load,
# optimize-fleet); stopping the server stops the worker.
run: seed
	@echo "TMS on http://$(HOST):$(PORT)/  (admin: /admin/, API docs: /api/docs/, health: /health)"
	@$(PY) -m celery -A tms worker --loglevel WARNING --concurrency 1 >var/worker.log 2>&1 & \
	  worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(PY) -m uvicorn tms.asgi:application --host $(HOST) --port $(PORT)

worker: services
	@$(PY) -m celery -A tms worker --loglevel INFO

test: services
	@$(PY) manage.py check --fail-level WARNING
	@$(PY) manage.py makemigrations --check --dry-run >/dev/null || { echo "missing migrations: run manage.py makemigrations"; exit 1; }
	@.venv/bin/ruff check .
	@TMS_TEST_KAFKA_BOOTSTRAP=$${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:$${TMS_KAFKA_PORT:-29092}} $(PY) -m pytest -n 2 -q

lint: bootstrap
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .

format: bootstrap
	@.venv/bin/ruff check --fix .
	@.venv/bin/ruff format .

bench: services
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || true; done
