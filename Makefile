# kapflow: `make demo` runs the demo practice, `make test` runs every check CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
PY := $(BIN)/python
LOCK := requirements/dev.lock
STAMP := $(VENV)/.installed
VENDOR := src/kapflow/static/vendor
HOST ?= 127.0.0.1
PORT ?= 8000
# Where the demo is served: printed with the sign-ins and used for every link in e-mails.
KAPFLOW_BASE_URL ?= http://$(HOST):$(PORT)

.PHONY: demo test lint check assets install lock bench bench-http bench-http-directory serve worker scheduler clean mutate

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv

$(STAMP): $(LOCK) pyproject.toml | $(UV)
	$(UV) pip sync --quiet --python $(PY) $(LOCK)
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $(STAMP)

install: $(STAMP) assets

# Front-end assets come from npm (package-lock.json) and are served as our own static files.
$(VENDOR)/.stamp: package-lock.json
	npm ci --no-audit --no-fund --silent --ignore-scripts
	mkdir -p $(VENDOR)/htmx $(VENDOR)/pico $(VENDOR)/swagger-ui
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx/
	cp node_modules/@picocss/pico/css/pico.min.css $(VENDOR)/pico/
	cp node_modules/swagger-ui-dist/{swagger-ui-bundle.js,swagger-ui.css,favicon-32x32.png,LICENSE,NOTICE} $(VENDOR)/swagger-ui/
	touch $@

assets: $(VENDOR)/.stamp

lock: | $(UV)
	$(UV) pip compile --quiet pyproject.toml --generate-hashes -o requirements/base.lock
	$(UV) pip compile --quiet pyproject.toml --extra dev --generate-hashes -o requirements/dev.lock

# The demo is one process: its background tasks run in the request (no worker to start).
DEMO_TASKS := KAPFLOW_TASKS_BACKEND=django_tasks.backends.immediate.ImmediateBackend

demo: install
	mkdir -p var
	KAPFLOW_DEMO_MODE=1 $(DEMO_TASKS) $(PY) manage.py migrate --no-input -v0
	KAPFLOW_DEMO_MODE=1 $(DEMO_TASKS) KAPFLOW_BASE_URL=$(KAPFLOW_BASE_URL) $(PY) manage.py demo
	# The ASGI application under uvicorn (not runserver): the session room needs WebSockets.
	KAPFLOW_DEMO_MODE=1 $(DEMO_TASKS) KAPFLOW_BASE_URL=$(KAPFLOW_BASE_URL) $(PY) -m uvicorn kapflow.config.asgi:application --host $(HOST) --port $(PORT) --lifespan off --no-access-log

# The shipped runtime (decision 0041): gunicorn with uvicorn workers, the task worker and the
# scheduler, as in the Procfile. Settings come from the environment; secrets a machine does
# not set are made once in var/kapflow.env. KAPFLOW_WEB_WORKERS, DATABASE_URL, REDIS_URL, ... pass
# through (README, "Run it").
SERVE_ENV := set -a && . ./var/kapflow.env && set +a && \
	KAPFLOW_BIND=$${KAPFLOW_BIND:-$(HOST):$(PORT)} KAPFLOW_BASE_URL=$(KAPFLOW_BASE_URL) \
	KAPFLOW_STATIC_ROOT=$${KAPFLOW_STATIC_ROOT:-$(CURDIR)/var/static}

var/kapflow.env:
	mkdir -p var
	umask 077 && $(PY) -m kapflow.runtime.envfile > $@

serve: install var/kapflow.env
	$(SERVE_ENV) $(BIN)/kapflow migrate --no-input -v0
	$(SERVE_ENV) $(BIN)/kapflow collectstatic --no-input -v0
	$(SERVE_ENV) exec $(BIN)/kapflow serve

worker: install var/kapflow.env
	$(SERVE_ENV) exec $(BIN)/kapflow worker

scheduler: install var/kapflow.env
	$(SERVE_ENV) exec $(BIN)/kapflow scheduler

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	KAPFLOW_TESTING=1 $(PY) manage.py makemigrations --check --dry-run
	$(BIN)/lint-imports

test: lint
	KAPFLOW_TESTING=1 $(BIN)/pytest $(PYTEST_ARGS)

bench: install
	KAPFLOW_TESTING=1 $(PY) bench/run.py $(BENCH_ARGS)

# The shipped runtime under load (decision 0044): `make serve` on two bench databases (1,000 and
# 100,000 clients), wrk against the API, the caseload and a one-row baseline view in
# interleaved rounds. Needs wrk and PostgreSQL; bench/README.md has the figures.
bench-http: install var/kapflow.env
	$(SERVE_ENV) $(PY) bench/http_load.py $(BENCH_ARGS)

# The public directory search under `make serve` and wrk (bench/http_directory.py).
bench-http-directory: install var/kapflow.env
	$(SERVE_ENV) $(PY) bench/http_directory.py $(BENCH_ARGS)

# Mutation testing of the pure rules (decision 0058): mutmut mutates src/kapflow/clinical/ in a
# copy under mutants/ and runs tests/clinical against each mutant ([tool.mutmut] in
# pyproject.toml). Stop it at any time: a second run goes on where the first stopped.
# MUTANTS narrows the run, e.g. MUTANTS='kapflow.clinical.prescribing*'.
mutate: $(STAMP)
	KAPFLOW_TESTING=1 $(BIN)/mutmut run $(MUTANTS)
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) node_modules $(VENDOR) var
