# The verbs a newcomer looks for. `make run` and `make test` install what they need first.
PY := .venv/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format bench bench-dashboard services services-stop bootstrap migrate seed worker

bootstrap:
	@scripts/bootstrap

services: bootstrap
	@scripts/services start

services-stop:
	@scripts/services stop

# Every database: the main one and, when TIMESERIES_DATABASE_URL names another, the time series'.
migrate: services
	@$(PY) manage.py migrate --noinput -v 0

seed: migrate
	@HOST=$(HOST) PORT=$(PORT) $(PY) manage.py seed_demo --if-empty

# The production topology on this machine: every process of the Procfile (web, Celery worker and
# beat, both relays, every consumer) under honcho, against the local broker, logs in one stream;
# Ctrl-C stops them all.
KAFKA := $${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:$${TMS_KAFKA_PORT:-29092}}
run: seed
	@echo "TMS on http://$(HOST):$(PORT)/  (admin: /admin/, API docs: /api/docs/, health: /health, metrics: /metrics)"
	@KAFKA_BOOTSTRAP_SERVERS=$(KAFKA) $(PY) manage.py kafka_topics >/dev/null
	@rm -rf var/metrics && mkdir -p var/metrics
	@PATH="$(CURDIR)/.venv/bin:$$PATH" HOST=$(HOST) KAFKA_BOOTSTRAP_SERVERS=$(KAFKA) \
	  PROMETHEUS_MULTIPROC_DIR="$(CURDIR)/var/metrics" \
	  exec .venv/bin/honcho start --no-colour -f Procfile -p $(PORT)

worker: services
	@$(PY) -m celery -A tms worker --loglevel INFO

# The suite runs with the time series in their own database (the local cluster's tms_timeseries),
# as production keeps them in TimescaleDB: a query sent to the wrong database fails. A
# TIMESERIES_DATABASE_URL or DATABASE_URL from the environment wins (set either to test one
# database).
ifeq ($(origin TIMESERIES_DATABASE_URL)$(origin DATABASE_URL),undefinedundefined)
test: export TIMESERIES_DATABASE_URL = postgis://tms@127.0.0.1:$(or $(TMS_PG_PORT),55432)/tms_timeseries
endif
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

# The dashboard and the admin's load list on the seed_scale dataset (database tms_scale, built by
# `manage.py seed_scale` on the first run, about 10 minutes, and reused after).
bench-dashboard: services
	@$(PY) bench/bench_dashboard.py
